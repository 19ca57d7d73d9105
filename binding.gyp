{
  "variables": {
    "uring%": "<!(sh -c 'test -f /usr/include/liburing.h && echo 1 || echo 0')"
  },
  "targets": [
    {
      "target_name": "vpcep_relay",
      "sources": ["native/relay.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["native/relay.cc"], "type": "none" }],
        ["OS=='linux' and uring==1", { "defines": ["VPCEP_URING=1"], "libraries": ["-luring"] }]
      ]
    }
  ]
}
