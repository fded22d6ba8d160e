// Config import: `orion up --config orion.yaml` puts the file's streams, models and pipelines
// into the database, through the same validator as the REST API (api/resources.h), so a typo in
// the file and a typo in a request get the same code, field and words.
//
// Reading (read_config_file) is all done before anything is written:
//   1. YAML → JSON, faithfully: a plain scalar is typed by the YAML 1.2 core schema (`true` /
//      `false` a bool, `3`, `0x1f`, `0o17` an integer, `0.3`, `1e3` a number, `~` / `null` /
//      nothing a null, anything else a string; `yes`, `on` stay strings), a quoted scalar or one
//      tagged `!!str` is always a string ("3" stays the text 3), `!!int`, `!!float`, `!!bool`
//      and `!!null` force their type; an integer beyond 64 bits becomes a number (as a JSON
//      parser reads it). Refused with the line and column: YAML syntax errors, a key given twice
//      in one map, a key that is not a scalar, more than one YAML document, nesting deeper than
//      kMaxJsonDepth, text that is not UTF-8, `.inf` / `.nan`, other tags.
//   2. The YAML keys become the API's fields and relative paths are resolved against the config
//      file's folder (made absolute, so the database never holds a path that depends on the
//      working directory of whoever imported it):
//        streams[].url              a plain relative path, or file://relative → file:///abs;
//                                   other URLs (rtsp://, test://, ...) as written
//        models[].path              a relative path
//        models[].class_names       a string is a FILE (one name per line, trailing whitespace
//                                   and trailing empty lines ignored, as infer::
//                                   read_class_names_file reads it): read here and put inline
//                                   as the model's class_names list (what the database holds);
//                                   a list is taken as the names themselves
//        pipelines[].worker         → worker_command: a string (the executable) or a list
//                                   [executable, arg, ...]; the executable is resolved when it
//                                   contains '/' (a bare name is looked up on PATH by the
//                                   engine); arguments are text as written (a plain `3` is the
//                                   argument "3"). `worker_command` is read the same way; both
//                                   given is an error.
//      Every other key is passed on as written: the validator refuses unknown ones by name.
//   3. api::desired_state_from_json(root, Source{label = the path as given,
//      allow_worker_command = true}): every check and message is the API's, with field paths
//      such as "streams[1].url" ("orion.yaml: streams[1].url: scheme 'http' is not allowed ...").
//
// Importing (import_desired_state) makes the database hold the file's records:
//   - a name not in the database is created; a name that is there is updated only when some
//     field differs (a version-checked update with the version just read; on
//     store.version_conflict, store.not_found or store.exists — another writer got in between —
//     read again and try once more), else left alone, its version not bumped. Never a duplicate.
//   - order: streams, then models, then pipelines, so a pipeline's stream and model exist first.
//   - nothing the file does not name is deleted or changed: records added through the API stay.
//     For the names it does list, the file wins over changes made through the API since.
//   - atomicity: each create or update is its own store transaction (the Store interface has no
//     transaction spanning calls). Validation has finished before the first write, so a bad file
//     writes nothing; a failure of the database half way (store.io, ...) leaves the records
//     written before it in place and none after it. The error names the record and says how
//     many were written; importing the same file again finishes the job (it is idempotent).
//
// Errors of the loader itself (ApiError, status 400, `field` set where one field is at fault):
//   config.io       the config file cannot be read
//   config.parse    YAML syntax and the refusals of step 1 (message: "FILE: line L, column C: ...")
//   config.invalid  a class names file that cannot be read, is empty or has an empty line;
//                   `worker` and `worker_command` both given; a class_names of another type
// and every code of the validator (api.wrong_type, api.invalid_field, ...). Import errors are
// the store's codes (store.io, ...).
//
// Thread-safety: pure functions, except import_desired_state, which writes through `store` (a
// Store is thread-safe; concurrent writers are handled by the versions, above).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/api_error.h"
#include "api/resources.h"
#include "core/result.h"
#include "store/store.h"

namespace orion::api {

// Steps 1 and 2 only: the YAML text as the JSON document desired_state_from_json takes.
// `base_dir` resolves relative paths (used as given: pass an absolute folder); `label` starts
// every message.
Checked<nlohmann::json> config_yaml_to_json(std::string_view yaml_text, const std::string& base_dir,
                                            const std::string& label);

// Steps 1 to 3 on text (base_dir and label as above).
Checked<DesiredState> parse_config_text(std::string_view yaml_text, const std::string& base_dir,
                                        const std::string& label);

// Steps 1 to 3 on a file: relative paths against its folder (made absolute); messages start
// with `path` as given.
Checked<DesiredState> read_config_file(const std::string& path);

struct ImportCounts {
  int created = 0;
  int updated = 0;
  int unchanged = 0;
  friend bool operator==(const ImportCounts&, const ImportCounts&) = default;
};
struct ImportSummary {
  ImportCounts streams, models, pipelines;
  friend bool operator==(const ImportSummary&, const ImportSummary&) = default;
};
// "streams 2 created, 0 updated, 1 unchanged; models ...; pipelines ..." (for the log).
std::string to_string(const ImportSummary& s);

// Writes `desired` (as read_config_file returns it) into `store`, as described above.
Result<ImportSummary> import_desired_state(store::Store& store, const DesiredState& desired);

// read_config_file, then import_desired_state: what `orion up --config PATH` runs. A file that
// does not pass is an Error with the ApiError's code and message, and nothing is written.
Result<ImportSummary> import_config_file(store::Store& store, const std::string& path);

}  // namespace orion::api
