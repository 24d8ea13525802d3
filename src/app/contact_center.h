// app/contact_center.h — the contact-center services inside `hotline serve`:
// configuration repository, call records, live events, the media engine and
// the call layer, wired together.
//
//   ContactCenter cc(config, db, directory, metrics, http_io);
//   sip.start([&](sip::Stack& s) { cc.attach(s, sip); });  // call layer on the SIP loop
//   api_options.services = cc.services();
//   ... serve ...
//   sip.run_on_loop_and_wait([&] { cc.shutdown(); });       // hang up every call
//
// Audit entries for actions taken from phones (feature codes) are written
// on `background` (the HTTP pool) so the SIP loop never waits on the disk.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>

#include "api/api.h"
#include "app/config.h"
#include "app/sip_service.h"
#include "call/call.h"
#include "center/center.h"
#include "common/metrics.h"
#include "iam/iam.h"
#include "live/live.h"
#include "media/engine.h"
#include "records/records.h"
#include "store/database.h"

namespace hotline::app {

class ContactCenter {
 public:
  ContactCenter(const Config& config, store::Database& db, iam::Directory& directory,
                common::MetricsRegistry& metrics, boost::asio::io_context& background);
  ~ContactCenter();

  // Builds the call layer on `stack` (the SIP loop is not running yet).
  void attach(sip::Stack& stack, SipService& sip);
  // On the SIP loop: hang up every call.
  void shutdown();
  api::ApiServices services();

  center::Repository& repository() { return *repository_; }
  records::Store& records() { return *records_; }
  live::Hub& hub() { return *hub_; }

 private:
  class Sink;
  Config config_;
  iam::Directory& directory_;
  common::MetricsRegistry& metrics_;
  std::unique_ptr<center::Repository> repository_;
  std::unique_ptr<records::Store> records_;
  std::unique_ptr<live::Hub> hub_;
  std::unique_ptr<media::MediaEngine> media_;
  std::unique_ptr<Sink> sink_;
  std::unique_ptr<call::CallCenter> calls_;
  std::unique_ptr<live::SessionWatcher> session_watcher_;
};

// The prompts folder the build generated (for `media.prompts_dir` = "").
std::string default_prompts_dir();

// The media engine's settings from the `[media]` keys.
media::EngineConfig media_engine_config(const Config& c);

}  // namespace hotline::app
