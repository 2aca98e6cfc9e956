#include "tests/fakes/fake_http_server.h"
