"""Checks docker/: the Dockerfile, the compose file and the Kubernetes manifests.

Usage: recipe_checks.py CORRAL_BINARY SOURCE_DIR. Prints one "FAIL: ..." line per problem and
exits 1 if there was any. Part of docker_recipe_test.sh, which says why these files are checked
this way (there is no Docker engine or Kubernetes cluster to try them on).
"""

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import yaml

HTTP_PORT = 2801
GRPC_PORT = 2803
DATA_DIR = "/var/lib/corral"
CONFIG_PATH = "/etc/corral/corral.yaml"

failures = []
unparsable = set()  # YAML files already reported as not parsing


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}", file=sys.stderr)


def expect(condition, message):
    if not condition:
        fail(message)
    return condition


# --- Dockerfile ----------------------------------------------------------------------------------


def dockerfile_instructions(text):
    """Returns the (KEYWORD, arguments) of each instruction, continuation lines joined."""
    instructions = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not current):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def exec_form(args):
    """The words of an instruction's arguments, JSON (exec) form or shell form."""
    try:
        words = json.loads(args)
        if isinstance(words, list):
            return [str(w) for w in words]
    except ValueError:
        pass
    return shlex.split(args)


def healthcheck_command(args):
    """The command of HEALTHCHECK [--options] CMD ..., as words."""
    _, found, command = args.partition("CMD ")
    return exec_form(command.strip()) if found else []


def check_dockerfile(src, runtime_packages):
    path = os.path.join(src, "docker/Dockerfile")
    with open(path) as f:
        instructions = dockerfile_instructions(f.read())

    stages = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append({"from": args.split()[0], "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args))
    if not expect(len(stages) >= 2, "docker/Dockerfile: want a build stage and a runtime stage"):
        return {}
    build, runtime = stages[0], stages[-1]
    expect(build["from"] == "debian:12",
           f"docker/Dockerfile: the build stage is FROM {build['from']}, want debian:12")
    expect(runtime["from"] == "debian:12-slim",
           f"docker/Dockerfile: the runtime stage is FROM {runtime['from']}, want debian:12-slim")

    def runs(stage):
        return [args for keyword, args in stage["instructions"] if keyword == "RUN"]

    def last(stage, keyword):
        found = [args for k, args in stage["instructions"] if k == keyword]
        return found[-1] if found else None

    install_deps = re.compile(r"(^|[\s/])scripts/install-deps\s+(--\w+)")
    build_modes = [m.group(2) for r in runs(build) for m in install_deps.finditer(r)]
    runtime_modes = [m.group(2) for r in runs(runtime) for m in install_deps.finditer(r)]
    expect("--build" in build_modes,
           "docker/Dockerfile: the build stage does not run scripts/install-deps --build")
    expect("--runtime" in runtime_modes,
           "docker/Dockerfile: the runtime stage does not run scripts/install-deps --runtime")
    cmake = " ".join(runs(build))
    for flag in ("-DCMAKE_BUILD_TYPE=Release", "-DCORRAL_BUILD_TESTS=OFF", "--target corral"):
        expect(flag in cmake, f"docker/Dockerfile: the build stage's cmake lacks {flag}")

    expose = (last(runtime, "EXPOSE") or "").split()
    for port in (HTTP_PORT, GRPC_PORT):
        expect(str(port) in expose or f"{port}/tcp" in expose,
               f"docker/Dockerfile: the runtime stage does not EXPOSE {port} (EXPOSE {' '.join(expose)})")

    volume = exec_form(last(runtime, "VOLUME") or "[]")
    expect(DATA_DIR in volume, f"docker/Dockerfile: no VOLUME {DATA_DIR}")

    user = (last(runtime, "USER") or "").split(":")[0]
    uid = None
    if expect(user not in ("", "root", "0"),
              f"docker/Dockerfile: the runtime stage runs as {user or 'root (no USER)'}, want a non-root user"):
        for r in runs(runtime):
            m = re.search(r"useradd\b.*--uid\s+(\d+).*\s" + re.escape(user) + r"\b", r)
            if m:
                uid = int(m.group(1))
        expect(uid not in (None, 0),
               f"docker/Dockerfile: the runtime stage does not create user {user!r} with a fixed, non-zero --uid")

    entrypoint = exec_form(last(runtime, "ENTRYPOINT") or "[]")
    expect(entrypoint == ["corral"],
           f"docker/Dockerfile: ENTRYPOINT is {entrypoint}, want [\"corral\"]")
    copies = [exec_form(args) for k, args in runtime["instructions"] if k == "COPY"]
    binary = [c for c in copies if c and c[0].startswith("--from=") and c[-1] == "/usr/local/bin/corral"]
    expect(binary, "docker/Dockerfile: the runtime stage does not copy the binary to /usr/local/bin/corral")
    config_copy = [c for c in copies if c[:1] == ["docker/corral.yaml"]]
    config_dest = config_copy[0][-1] if config_copy else None
    expect(config_dest == CONFIG_PATH,
           f"docker/Dockerfile: docker/corral.yaml is copied to {config_dest}, want {CONFIG_PATH}")
    cmd = exec_form(last(runtime, "CMD") or "[]")
    expect(cmd == ["-c", CONFIG_PATH], f"docker/Dockerfile: CMD is {cmd}, want [\"-c\", \"{CONFIG_PATH}\"]")

    # Every file the stages copy from the build context exists and is not excluded from it.
    ignored = []
    ignore_path = os.path.join(src, ".dockerignore")
    if expect(os.path.exists(ignore_path), ".dockerignore is missing (the build context would hold .git and build trees)"):
        with open(ignore_path) as f:
            ignored = [p.strip().rstrip("/") for p in f if p.strip() and not p.startswith("#")]
        expect(".git" in ignored, ".dockerignore does not exclude .git")
        expect(any(fnmatch.fnmatch("build-release", p) for p in ignored), ".dockerignore does not exclude build*/")
    for stage in stages:
        for keyword, args in stage["instructions"]:
            words = exec_form(args) if keyword == "COPY" else []
            if not words or words[0].startswith("--from="):
                continue
            for source in [w for w in words[:-1] if not w.startswith("--")]:
                expect(source == "." or os.path.exists(os.path.join(src, source)),
                       f"docker/Dockerfile: COPY {source}: no such file in the repository")
                top = source.split("/")[0]
                expect(source == "." or not any(fnmatch.fnmatch(top, p) for p in ignored),
                       f"docker/Dockerfile: COPY {source}, but .dockerignore excludes it")

    # The health check hits /healthz on the HTTP port, with a tool the runtime stage installs.
    health = last(runtime, "HEALTHCHECK") or ""
    expect(re.search(rf"//(127\.0\.0\.1|localhost):{HTTP_PORT}/healthz\b", health),
           f"docker/Dockerfile: HEALTHCHECK does not check http://127.0.0.1:{HTTP_PORT}/healthz")
    command = healthcheck_command(health)
    tool = os.path.basename(command[0]) if command else ""
    if tool and tool != "corral":
        installed = set(runtime_packages)
        for r in runs(runtime):
            for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", r):
                installed.update(w for w in m.group(1).split() if not w.startswith("-") and w != ">/dev/null")
        expect(tool in installed,
               f"docker/Dockerfile: HEALTHCHECK runs {tool}, which the runtime stage does not install")
    return {"uid": uid, "healthcheck": command}


# --- YAML ----------------------------------------------------------------------------------------


def load_all_yaml(src):
    documents = {}
    for root, _, files in os.walk(os.path.join(src, "docker")):
        for name in sorted(files):
            if not name.endswith((".yaml", ".yml")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            try:
                with open(path) as f:
                    documents[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                fail(f"{rel} does not parse: {e}")
                unparsable.add(rel)
    return documents


def duration_seconds(text):
    total = 0.0
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(number) * units[unit]
    return total


def check_config(corral, text, env, what):
    """Runs corral check-config on a config given as text; returns the effective config."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        result = subprocess.run([corral, "check-config", "-c", f.name], env=env,
                                capture_output=True, text=True, timeout=20)
    if not expect(result.returncode == 0,
                  f"{what} does not pass corral check-config:\n{result.stdout}{result.stderr}"):
        return None
    return yaml.safe_load(result.stdout)


def check_default_config(documents):
    if "docker/corral.yaml" in unparsable:
        return
    config = (documents.get("docker/corral.yaml") or [{}])[0]
    spool = config.get("spool", {}).get("dir", "")
    dead = config.get("dead_letter", {}).get("file", "")
    expect(spool.startswith(DATA_DIR + "/"), f"docker/corral.yaml: spool.dir {spool!r} is not on the volume {DATA_DIR}")
    expect(dead.startswith(DATA_DIR + "/"), f"docker/corral.yaml: dead_letter.file {dead!r} is not on the volume {DATA_DIR}")
    listen = config.get("listen", {})
    expect(listen.get("http") == f"0.0.0.0:{HTTP_PORT}", f"docker/corral.yaml: listen.http is not 0.0.0.0:{HTTP_PORT}")
    expect(listen.get("grpc") == f"0.0.0.0:{GRPC_PORT}", f"docker/corral.yaml: listen.grpc is not 0.0.0.0:{GRPC_PORT}")


def check_compose(documents):
    compose = documents.get("docker/compose.yaml")
    if "docker/compose.yaml" in unparsable or not expect(compose, "docker/compose.yaml is missing or empty"):
        return
    services = compose[0].get("services", {})
    corral = services.get("corral")
    if not expect(corral, "docker/compose.yaml: no service 'corral'"):
        return
    ports = [str(p) for p in corral.get("ports", [])]
    for port in (HTTP_PORT, GRPC_PORT):
        expect(any(p.endswith(f":{port}") for p in ports), f"docker/compose.yaml: corral does not publish port {port}")
    volumes = [str(v) for v in corral.get("volumes", [])]
    expect(any(v.split(":")[1:2] == [CONFIG_PATH] for v in volumes),
           f"docker/compose.yaml: corral does not mount a config at {CONFIG_PATH}")
    data = [v.split(":")[0] for v in volumes if v.split(":")[1:2] == [DATA_DIR]]
    expect(data and data[0] in (compose[0].get("volumes") or {}),
           f"docker/compose.yaml: corral's {DATA_DIR} is not a named volume")
    expect(corral.get("restart"), "docker/compose.yaml: corral has no restart policy")
    expect(f"{HTTP_PORT}/healthz" in " ".join(map(str, corral.get("healthcheck", {}).get("test", []))),
           "docker/compose.yaml: corral's healthcheck does not check /healthz")
    falco = services.get("falco")
    if expect(falco, "docker/compose.yaml: no example 'falco' service"):
        settings = " ".join(map(str, falco.get("command", []))) + " " + json.dumps(falco.get("environment", {}))
        expect(f"http_output.url=http://corral:{HTTP_PORT}/" in settings and "json_output=true" in settings,
               f"docker/compose.yaml: falco's http_output is not pointed at http://corral:{HTTP_PORT}/ with json_output")


def k8s_objects(documents):
    objects = {}
    for rel, docs in documents.items():
        if not rel.startswith("docker/k8s/"):
            continue
        for doc in docs:
            if expect(isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc,
                      f"{rel}: a document without kind/apiVersion"):
                objects.setdefault(doc["kind"], []).append((rel, doc))
    return objects


def port_number(container, port):
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_k8s(corral, documents, uid):
    objects = k8s_objects(documents)
    for kind in ("StatefulSet", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "ServiceAccount"):
        expect(kind in objects, f"docker/k8s: no {kind}")
    if "StatefulSet" not in objects:
        return
    rel, sts = objects["StatefulSet"][0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    expect(spec.get("selector", {}).get("matchLabels", {}).items() <= labels.items(),
           f"{rel}: the selector does not match the pod's labels")
    containers = pod.get("containers", [])
    if not expect(len(containers) == 1, f"{rel}: want one container, got {len(containers)}"):
        return
    c = containers[0]
    expect(c.get("args") == ["-c", CONFIG_PATH], f"{rel}: args are {c.get('args')}, want [-c, {CONFIG_PATH}]")
    ports = {p.get("containerPort") for p in c.get("ports", [])}
    for port in (HTTP_PORT, GRPC_PORT):
        expect(port in ports, f"{rel}: no containerPort {port}")

    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe not in c:
            expect(probe == "startupProbe", f"{rel}: no {probe}")
            continue
        get = c[probe].get("httpGet", {})
        expect(get.get("path") == "/healthz" and port_number(c, get.get("port")) == HTTP_PORT,
               f"{rel}: {probe} is not httpGet /healthz on port {HTTP_PORT}")

    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts", [])}
    data = mounts.get(DATA_DIR)
    expect(data and data.get("name") in claims,
           f"{rel}: {DATA_DIR} is not mounted from a volumeClaimTemplate (claims: {sorted(claims)})")

    security = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    expect(security.get("runAsNonRoot") is True, f"{rel}: runAsNonRoot is not true")
    if uid is not None:
        expect(security.get("runAsUser") == uid,
               f"{rel}: runAsUser is {security.get('runAsUser')}, the image's user is {uid}")
    expect(security.get("readOnlyRootFilesystem") is True, f"{rel}: readOnlyRootFilesystem is not true")
    expect(security.get("allowPrivilegeEscalation") is False, f"{rel}: allowPrivilegeEscalation is not false")
    expect("ALL" in security.get("capabilities", {}).get("drop", []), f"{rel}: capabilities do not drop ALL")
    resources = c.get("resources", {})
    expect(resources.get("requests") and resources.get("limits"), f"{rel}: no resource requests and limits")

    # The config: mounted from the ConfigMap, and valid with the example Secret's values.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    config_mount = mounts.get(CONFIG_PATH)
    config_map_name = (volumes.get((config_mount or {}).get("name"), {}).get("configMap") or {}).get("name")
    config_maps = {d["metadata"]["name"]: (r, d) for r, d in objects.get("ConfigMap", [])}
    if not expect(config_map_name in config_maps, f"{rel}: {CONFIG_PATH} is not mounted from a ConfigMap of docker/k8s"):
        return
    cm_rel, cm = config_maps[config_map_name]
    key = config_mount.get("subPath") or os.path.basename(CONFIG_PATH)
    text = cm.get("data", {}).get(key)
    if not expect(text, f"{cm_rel}: no data key {key!r}"):
        return

    secrets = {d["metadata"]["name"]: d for _, d in objects.get("Secret", [])}
    env = {k: v for k, v in os.environ.items() if k != "CORRAL_TOKEN"}
    for source in c.get("envFrom", []):
        name = source.get("secretRef", {}).get("name")
        if expect(name in secrets, f"{rel}: envFrom names Secret {name!r}, which docker/k8s does not define"):
            env.update({k: str(v) for k, v in secrets[name].get("stringData", {}).items()})
    effective = check_config(corral, text, env, f"{cm_rel} (corral.yaml, with the example Secret's values)")
    if effective:
        expect(effective["spool"]["dir"].startswith(DATA_DIR + "/"),
               f"{cm_rel}: spool.dir is not on the volume at {DATA_DIR}")
        expect(effective["dead_letter"]["file"].startswith(DATA_DIR + "/"),
               f"{cm_rel}: dead_letter.file is not on the volume at {DATA_DIR}")
        gcpaudit = effective["ingest"].get("gcpaudit", [])
        expect(gcpaudit and not any(e.get("credentials_file") for e in gcpaudit),
               f"{cm_rel}: want an ingest.gcpaudit example that uses the metadata server (no credentials_file)")
        drain = duration_seconds(effective["listen"].get("drain_timeout", "15s"))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        expect(grace > drain, f"{rel}: terminationGracePeriodSeconds {grace} is not above drain_timeout {drain:g}s")

    # Workload Identity: the pod's service account names a Google service account.
    accounts = {d["metadata"]["name"]: d for _, d in objects.get("ServiceAccount", [])}
    account = accounts.get(pod.get("serviceAccountName"))
    if expect(account, f"{rel}: serviceAccountName {pod.get('serviceAccountName')!r} is not defined in docker/k8s"):
        expect("iam.gke.io/gcp-service-account" in account["metadata"].get("annotations", {}),
               "docker/k8s: the ServiceAccount lacks the iam.gke.io/gcp-service-account annotation")

    services = objects.get("Service", [])
    expect(any(d["metadata"]["name"] == spec.get("serviceName") for _, d in services),
           f"{rel}: serviceName {spec.get('serviceName')!r} is not a Service of docker/k8s")
    for svc_rel, svc in services:
        name = svc["metadata"]["name"]
        expect(svc["spec"].get("selector", {}).items() <= labels.items(),
               f"{svc_rel}: Service {name}'s selector does not match the pods")
        targets = {p.get("port"): port_number(c, p.get("targetPort", p.get("port"))) for p in svc["spec"].get("ports", [])}
        for port in (HTTP_PORT, GRPC_PORT):
            expect(targets.get(port) == port, f"{svc_rel}: Service {name} does not map port {port} to the container's {port}")
    for pdb_rel, pdb in objects.get("PodDisruptionBudget", []):
        expect(pdb["spec"].get("selector", {}).get("matchLabels", {}).items() <= labels.items(),
               f"{pdb_rel}: the PodDisruptionBudget's selector does not match the pods")


def main():
    corral, src = sys.argv[1], sys.argv[2]
    runtime = subprocess.run([os.path.join(src, "scripts/install-deps"), "--list", "--runtime"],
                             capture_output=True, text=True, check=True).stdout.split()
    image = check_dockerfile(src, runtime)
    documents = load_all_yaml(src)
    check_default_config(documents)
    check_compose(documents)
    check_k8s(corral, documents, image.get("uid"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
