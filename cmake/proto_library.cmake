# corral_proto_library(name dir): every .proto under `dir`, compiled to C++
# messages and gRPC stubs in one static library; imports resolve from `dir`.
function(corral_proto_library name dir)
  file(GLOB_RECURSE proto_files CONFIGURE_DEPENDS ${dir}/*.proto)
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  set(gen_srcs)
  foreach(proto ${proto_files})
    file(RELATIVE_PATH rel ${dir} ${proto})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outs ${gen_dir}/${stem}.pb.cc ${gen_dir}/${stem}.pb.h
             ${gen_dir}/${stem}.grpc.pb.cc ${gen_dir}/${stem}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc
        --proto_path=${dir}
        --cpp_out=${gen_dir} --grpc_out=${gen_dir}
        --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
        ${proto}
      DEPENDS ${proto} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${rel}")
    list(APPEND gen_srcs ${gen_dir}/${stem}.pb.cc ${gen_dir}/${stem}.grpc.pb.cc)
  endforeach()
  add_library(${name} STATIC ${gen_srcs})
  target_include_directories(${name} PUBLIC ${gen_dir})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  target_compile_options(${name} PRIVATE -w)
endfunction()
