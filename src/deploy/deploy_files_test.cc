// The deployment files of docs/deploy.md are checked, not just written:
//   - every unit in deploy/systemd/ passes `systemd-analyze verify` with no message at all (an
//     unknown or misspelt key is only a warning there, so any output fails the test). The units
//     name /usr/local/bin/orion, which is not installed here: each is verified from a copy that
//     names an executable that exists instead; the template is verified as an instance. Where
//     systemd-analyze is missing: fails under CI=true (scripts/install-deps.sh installs
//     `systemd`), skips elsewhere.
//   - every document in deploy/k8s/*.yaml parses (yaml-cpp) and has apiVersion, kind and a
//     name; the objects docs/deploy.md describes are there: engines and API as Deployments, the
//     API behind a Service, PostgreSQL as a StatefulSet behind a Service; the containers run
//     `orion engine` / `orion api` with the database from the environment.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "testing/asset_paths.h"

namespace {

namespace fs = std::filesystem;

fs::path repo() { return fs::path(ORION_REPO_DIR); }

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string find_on_path(const std::string& exe) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path p = fs::path(dir) / exe;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  for (const char* d : {"/usr/bin", "/bin", "/usr/sbin"}) {
    const fs::path p = fs::path(d) / exe;
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// Runs `cmd` through the shell; returns its exit status and everything it printed.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

std::vector<fs::path> files(const fs::path& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SystemdUnits, EveryUnitPassesSystemdAnalyzeVerifyWithoutAWord) {
  const std::string analyze = find_on_path("systemd-analyze");
  if (analyze.empty()) {
    if (orion::testing::running_in_ci())
      FAIL() << "systemd-analyze is missing (CI=true): scripts/install-deps.sh installs systemd";
    GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  }
  const auto units = files(repo() / "deploy/systemd", ".service");
  ASSERT_GE(units.size(), 3u) << "orion-api, orion-engine@ and orion-up";
  const fs::path dir = fs::temp_directory_path() / ("orion_units_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string stand_in = find_on_path("true");
  ASSERT_FALSE(stand_in.empty());
  for (const auto& unit : units) {
    std::string text = read(unit);
    ASSERT_NE(text.find("/usr/local/bin/orion "), std::string::npos) << unit;
    for (size_t at; (at = text.find("/usr/local/bin/orion ")) != std::string::npos;)
      text.replace(at, std::string("/usr/local/bin/orion").size(), stand_in);
    std::string name = unit.filename().string();
    if (name.find("@.") != std::string::npos) name.replace(name.find("@."), 2, "@a.");
    { std::ofstream(dir / name) << text; }
    const auto [rc, out] = run(analyze + " verify --man=no '" + (dir / name).string() + "'");
    EXPECT_EQ(rc, 0) << unit << ":\n" << out;
    EXPECT_EQ(out, "") << unit << ": systemd-analyze had something to say";
    // Hardening that docs/deploy.md promises for every unit.
    for (const char* key : {"NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                            "DynamicUser=yes", "CapabilityBoundingSet=", "Restart=on-failure"})
      EXPECT_NE(text.find(std::string("\n") + key), std::string::npos) << unit << ": " << key;
  }
  fs::remove_all(dir);
}

TEST(KubernetesExample, EveryDocumentParsesAndTheDescribedObjectsAreThere) {
  std::map<std::string, YAML::Node> objects;  // "Kind/name"
  const auto manifests = files(repo() / "deploy/k8s", ".yaml");
  ASSERT_GE(manifests.size(), 3u);
  for (const auto& f : manifests) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAllFromFile(f.string());
    } catch (const YAML::Exception& e) {
      FAIL() << f << ": " << e.what();
    }
    ASSERT_FALSE(docs.empty()) << f;
    for (const auto& d : docs) {
      ASSERT_TRUE(d.IsMap()) << f;
      ASSERT_TRUE(d["apiVersion"] && d["kind"] && d["metadata"]["name"]) << f;
      objects[d["kind"].as<std::string>() + "/" + d["metadata"]["name"].as<std::string>()] = d;
    }
  }
  for (const char* want : {"Deployment/orion-engine", "Deployment/orion-api", "Service/orion-api",
                           "StatefulSet/orion-postgres", "Service/orion-postgres"})
    ASSERT_TRUE(objects.count(want)) << want << " missing from deploy/k8s";

  // Deployments and StatefulSets: the selector picks the pod template's labels.
  for (const auto& [key, d] : objects) {
    if (key.rfind("Deployment/", 0) != 0 && key.rfind("StatefulSet/", 0) != 0) continue;
    const YAML::Node match = d["spec"]["selector"]["matchLabels"];
    ASSERT_TRUE(match.IsMap()) << key;
    for (const auto& kv : match)
      EXPECT_EQ(
          d["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()].as<std::string>(
              ""),
          kv.second.as<std::string>())
          << key;
    EXPECT_TRUE(d["spec"]["template"]["spec"]["containers"][0]["image"]) << key;
  }
  // The Services select the pods they front.
  for (const auto& [svc, target] : std::map<std::string, std::string>{
           {"Service/orion-api", "Deployment/orion-api"},
           {"Service/orion-postgres", "StatefulSet/orion-postgres"}}) {
    const YAML::Node sel = objects[svc]["spec"]["selector"];
    ASSERT_TRUE(sel.IsMap()) << svc;
    for (const auto& kv : sel)
      EXPECT_EQ(
          objects[target]["spec"]["template"]["metadata"]["labels"][kv.first.as<std::string>()]
              .as<std::string>(""),
          kv.second.as<std::string>())
          << svc;
  }
  // orion engine / orion api, the database from the environment.
  for (const auto& [key, sub] : std::map<std::string, std::string>{
           {"Deployment/orion-engine", "engine"}, {"Deployment/orion-api", "api"}}) {
    const YAML::Node c = objects[key]["spec"]["template"]["spec"]["containers"][0];
    std::vector<std::string> args;
    for (const auto& a : c["args"]) args.push_back(a.as<std::string>());
    ASSERT_FALSE(args.empty()) << key;
    EXPECT_EQ(args[0], sub) << key;
    auto db = std::find(args.begin(), args.end(), "--db");
    ASSERT_NE(db, args.end()) << key;
    ASSERT_NE(db + 1, args.end()) << key;
    EXPECT_EQ(*(db + 1), "$(ORION_DB)") << key;
  }
}

}  // namespace
