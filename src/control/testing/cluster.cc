#include "control/testing/cluster.h"

#include <signal.h>

#include <regex>

namespace orion::control::testing {

Result<std::unique_ptr<Cluster>> Cluster::start(ClusterOptions options) {
  auto store = store::Store::open(options.db_url);
  if (!store) return store.error();
  std::unique_ptr<Cluster> c(new Cluster());
  c->options_ = std::move(options);
  c->store_ = std::move(*store);
  std::filesystem::create_directories(c->options_.dir);
  return c;
}

Cluster::~Cluster() {
  for (auto& [id, p] : engines_) {
    if (p) ::kill(p->pid(), SIGCONT);  // a paused one must be able to die
  }
  engines_.clear();
}

Status Cluster::start_engine(const std::string& id, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{options_.orion_binary,
                                "engine",
                                "--db",
                                options_.db_url,
                                "--engine-id",
                                id,
                                "--rtsp-port",
                                "0",
                                "--http-port",
                                "0",
                                "--lease-seconds",
                                std::to_string(options_.lease_s),
                                "--max-moves",
                                std::to_string(options_.max_moves),
                                "--stamp-sequence"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = orion::testing::Program::start(argv, options_.dir / ("engine-" + id + ".log"));
  if (!p) return p.error();
  if (!(*p)->wait_for(std::regex(R"(orion engine: (\S+) running)"), Duration::seconds(30)))
    return make_error("testing.engine", "engine " + id + " did not start:\n" + (*p)->output());
  engines_[id] = std::move(*p);
  return {};
}

orion::testing::Program* Cluster::engine(const std::string& id) {
  auto it = engines_.find(id);
  return it == engines_.end() ? nullptr : it->second.get();
}

bool Cluster::kill(const std::string& id) {
  auto* p = engine(id);
  return p != nullptr && p->sigkill();
}

bool Cluster::pause(const std::string& id) {
  auto* p = engine(id);
  return p != nullptr && ::kill(p->pid(), SIGSTOP) == 0;
}

bool Cluster::resume(const std::string& id) {
  auto* p = engine(id);
  return p != nullptr && ::kill(p->pid(), SIGCONT) == 0;
}

Status Cluster::create_streams(int n, const std::string& prefix, int fps) {
  for (int i = 0; i < n; ++i) {
    store::StreamRecord s;
    s.name = prefix + std::to_string(i);
    s.url = "test://ball?width=160&height=120&fps=" + std::to_string(fps);
    auto r = store_->create_stream(s);
    if (!r) return r.error();
  }
  return {};
}

std::map<std::string, Serving> Cluster::serving() {
  std::map<std::string, Serving> out;
  auto leases = store_->list_leases();
  auto rows = store_->list_stream_status();
  if (!leases || !rows) return out;
  for (const auto& l : *leases) {
    if (l.engine_id.empty() || l.expires_in_ms <= 0) continue;
    for (const auto& r : *rows) {
      if (r.stream == l.stream && r.engine_id == l.engine_id && r.epoch == l.epoch &&
          r.state == "live")
        out[l.stream] = Serving{l.engine_id, l.epoch, r.output_url};
    }
  }
  return out;
}

std::map<std::string, std::string> Cluster::rtsp_bases() {
  std::map<std::string, std::string> out;
  auto engines = store_->list_engines();
  if (!engines) return out;
  for (const auto& e : *engines) out[e.id] = e.rtsp_url;
  return out;
}

void Follower::poll() {
  if (client_ && client_->ended()) {
    for (const auto& f : client_->frames()) done_.push_back(f.arrival);
    client_.reset();
  }
  if (client_) return;
  auto now = cluster_.serving();
  auto it = now.find(stream_);
  if (it == now.end()) return;
  auto c = media::testing::RtspTestClient::start(it->second.output_url);
  if (!c) return;
  client_ = std::move(*c);
  url_ = it->second.output_url;
  if (engines_.empty() || engines_.back() != it->second.engine)
    engines_.push_back(it->second.engine);
}

std::vector<Timestamp> Follower::arrivals() {
  std::vector<Timestamp> out = done_;
  if (client_)
    for (const auto& f : client_->frames()) out.push_back(f.arrival);
  return out;
}

Duration Follower::longest_gap(Timestamp from) {
  const auto a = arrivals();
  Duration gap = Duration::zero();
  for (size_t i = 1; i < a.size(); ++i)
    if (a[i] >= from && a[i] - a[i - 1] > gap) gap = a[i] - a[i - 1];
  return gap;
}

}  // namespace orion::control::testing
