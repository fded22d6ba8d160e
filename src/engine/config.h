// Config: what `orion up --config orion.yaml` runs, from the YAML format of DESIGN.md:
//
//   streams:
//     - {name: cam1, url: "rtsp://127.0.0.1:8555/cam1"}
//     - {name: lobby, url: "../shared/assets/vtest_480x360.mp4", loop: true}
//   models: [...]      # accepted; parsed by the workers' code (issue 6)
//   pipelines: [...]   # accepted; parsed by the workers' code (issue 6)
//
// Streams: `name` (required; letters, digits, '-', '_', '.'; unique; it is the RTSP output
// path), `url` (required; rtsp://, rtsps://, file://, v4l2://, test:// or a path), `loop`
// (bool, files only, default false), `enabled` (bool, default true). A relative path is
// resolved against the config file's own folder. Unknown keys are errors (a typo must not be
// silently ignored); errors name the file, the field and what was wrong.
//
// To extend: add a struct and a member to Config, a parse function in config.cc, and its
// key to kTopLevelKeys. Thread-safety: value types and pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace orion::engine {

struct StreamConfig {
  std::string name;
  std::string url;  // relative paths already resolved against the config file's folder
  bool loop = false;
  bool enabled = true;
};

struct Config {
  std::string source;  // file it came from ("" when parsed from text)
  std::vector<StreamConfig> streams;
};

// Errors: "config.io" (cannot read), "config.parse" (YAML syntax, with line/column),
// "config.invalid" (message "FILE: streams[1].url: ...").
Result<Config> load_config(const std::string& path);
Result<Config> parse_config(const std::string& yaml_text, const std::string& base_dir,
                            const std::string& source_name = "<config>");

}  // namespace orion::engine
