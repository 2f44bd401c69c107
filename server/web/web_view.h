// WebView: the server's small web UI on its HTTP port, beside /metrics.
//
//   GET  /                       -> 303 /jobs
//   GET  /login, POST /login     a token form; sets an HttpOnly cookie
//   GET  /logout                 clears it
//   GET  /jobs[?state=S]         the caller's jobs, newest first
//   GET  /jobs/{id}              one job: live progress (polls events.json),
//                                its error, or its report and downloads
//   GET  /jobs/{id}/events.json?after=N   state, progress and new events
//   GET  /jobs/{id}/files/{name}          an artifact (report.html inline)
//
// Auth follows the gRPC API: `Authorization: Bearer TOKEN` or the login
// cookie, checked by the same Authenticator; another tenant's job is 404.
// On an open server (no token file) everyone is the default tenant.
//
// Holds no state of its own; the store, blobs and authenticator are not
// owned and must outlive it. Thread-safe (civetweb calls it concurrently).
#ifndef CONDENSE_SERVER_WEB_WEB_VIEW_H_
#define CONDENSE_SERVER_WEB_WEB_VIEW_H_

#include <string>

#include "server/auth.h"
#include "server/blobs/blob_store.h"
#include "server/metrics/http_server.h"
#include "server/store/metadata_store.h"

namespace condense::server {

class WebView : public metrics::HttpApp {
 public:
  WebView(MetadataStore* store, BlobStore* blobs, const Authenticator* auth)
      : store_(store), blobs_(blobs), auth_(auth) {}

  metrics::HttpResponse Handle(const metrics::HttpRequest& request) override;

 private:
  metrics::HttpResponse JobList(const Caller& caller,
                                const metrics::HttpRequest& request);
  metrics::HttpResponse JobPage(const Caller& caller, const std::string& id);
  metrics::HttpResponse JobEvents(const Caller& caller, const std::string& id,
                                  const metrics::HttpRequest& request);
  metrics::HttpResponse JobFile(const Caller& caller, const std::string& id,
                                const std::string& file);
  metrics::HttpResponse Login(const metrics::HttpRequest& request);

  MetadataStore* const store_;
  BlobStore* const blobs_;
  const Authenticator* const auth_;
};

// Helpers, exposed for tests.
// Decodes application/x-www-form-urlencoded `key` from `form` ("" if absent).
std::string FormValue(const std::string& form, const std::string& key);
// The value of cookie `name` in a Cookie header ("" if absent).
std::string CookieValue(const std::string& header, const std::string& name);

}  // namespace condense::server

#endif  // CONDENSE_SERVER_WEB_WEB_VIEW_H_
