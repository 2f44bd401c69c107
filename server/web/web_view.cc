#include "server/web/web_view.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/artifacts.h"
#include "base/html_escape.h"
#include "google/protobuf/util/json_util.h"
#include "proto/job_state.h"

namespace condense::server {
namespace {

using base::HtmlEscape;
using metrics::HttpRequest;
using metrics::HttpResponse;

constexpr char kCookie[] = "condense_token";

constexpr char kStyle[] = R"css(
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif;color:#1d2433;margin:0 auto;max-width:1100px;
padding:20px}a{color:#2f6fd6}nav{display:flex;gap:16px;align-items:baseline;
border-bottom:1px solid #d8dde6;padding-bottom:8px;margin-bottom:16px}
nav .brand{font-weight:700;font-size:18px;margin-right:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #d8dde6}
td.num{text-align:right}.state{font-weight:600;font-size:12px;
padding:2px 6px;border-radius:4px;background:#eef1f5}
.SUCCEEDED{background:#dff3e6;color:#1d6b3e}.FAILED{background:#fbe3e1;
color:#a1271e}.RUNNING{background:#e2ecfb;color:#1f4f9e}
.CANCELLED{background:#eee;color:#555}.QUEUED{background:#fff3d6;
color:#7a5400}.grid{display:grid;grid-template-columns:repeat(auto-fit,
minmax(170px,1fr));gap:10px;margin:12px 0}.box{border:1px solid #d8dde6;
border-radius:8px;padding:10px}.box .k{color:#5b6475;font-size:12px}
.box .v{font-size:20px;font-weight:650}.error{background:#fbe3e1;
padding:10px;border-radius:6px}progress{width:100%;height:14px}
iframe{width:100%;height:1400px;border:1px solid #d8dde6;border-radius:8px}
form{max-width:420px}input{font:inherit;padding:6px;width:100%;
margin:6px 0}button{font:inherit;padding:6px 14px}
.muted{color:#5b6475;font-size:13px}
)css";

bool ValidId(const std::string& id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                  c == '_';
         });
}

HttpResponse Page(int status, const std::string& title, const std::string& body,
                  bool signed_in, const std::string& head = "") {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  // Inline styles and the job page's polling script; nothing else loads.
  r.headers.emplace_back(
      "Content-Security-Policy",
      "default-src 'none'; style-src 'unsafe-inline'; script-src "
      "'unsafe-inline'; connect-src 'self'; frame-src 'self'; "
      "form-action 'self'");
  r.body = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<title>",
      HtmlEscape(title), " \xC2\xB7 condense</title><style>", kStyle,
      "</style>", head,
      "</head><body><nav><span class=\"brand\">condense"
      "</span><a href=\"/jobs\">Jobs</a>",
      signed_in ? "<a href=\"/logout\">Sign out</a>" : "", "</nav>", body,
      "</body></html>\n");
  return r;
}

HttpResponse Redirect(const std::string& location) {
  HttpResponse r;
  r.status = 303;
  r.headers.emplace_back("Location", location);
  r.body = "see " + location + "\n";
  return r;
}

HttpResponse Text(int status, const std::string& text) {
  HttpResponse r;
  r.status = status;
  r.body = text + "\n";
  return r;
}

HttpResponse Json(const std::string& body) {
  HttpResponse r;
  r.content_type = "application/json";
  r.body = body;
  return r;
}

HttpResponse ErrorPage(const absl::Status& status, bool signed_in) {
  const int code = absl::IsNotFound(status)           ? 404
                   : absl::IsInvalidArgument(status)  ? 400
                   : absl::IsUnauthenticated(status)  ? 401
                   : absl::IsPermissionDenied(status) ? 403
                                                      : 500;
  return Page(code, "Error",
              absl::StrCat("<h1>", code, "</h1><p class=\"error\">",
                           HtmlEscape(std::string{status.message()}),
                           "</p><p><a href=\"/jobs\">All jobs</a></p>"),
              signed_in);
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, options).ok()) {
    return "{}";
  }
  return out;
}

std::string When(int64_t unix_ms) {
  if (unix_ms <= 0) return "";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string StateBadge(v1::Job::State state) {
  const std::string name = v1::Job::State_Name(state);
  return absl::StrCat("<span class=\"state ", name, "\">", name, "</span>");
}

std::string ProgressText(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  if (job.state() != v1::Job::RUNNING || p.stage().empty()) return "";
  std::string out = absl::StrCat("stage ", p.stage_index() + 1, "/",
                                 p.stage_count(), " ", HtmlEscape(p.stage()));
  if (p.epochs() > 0)
    absl::StrAppend(&out, ", epoch ", p.epoch(), "/", p.epochs());
  return out;
}

std::string Short(const std::string& name) {
  return name.substr(name.find('/') + 1);
}

std::string ContentType(const std::string& name) {
  if (name == artifacts::kReportHtml) return "text/html; charset=utf-8";
  if (name == artifacts::kReportJson) return "application/json";
  return "application/octet-stream";
}

// The polling script of a running job's page: asks events.json for what is
// new every 1.5 s, appends it, and reloads once the job has ended.
constexpr char kPollScript[] = R"js(<script>
(function(){
  const id = document.body.dataset.job;
  let after = Number(document.body.dataset.after);
  const rows = document.getElementById('events');
  const set = (k, v) => { const e = document.getElementById(k);
                          if (e) e.textContent = v; };
  async function poll() {
    try {
      const r = await fetch('/jobs/' + id + '/events.json?after=' + after,
                            {credentials: 'same-origin'});
      if (!r.ok) throw new Error(r.status);
      const d = await r.json();
      for (const e of d.events) {
        after = Math.max(after, Number(e.sequence));
        const tr = rows.insertRow(0);
        for (const v of [e.sequence, e.kind, e.stage || '', e.message || ''])
          tr.insertCell().textContent = v;
      }
      const p = d.job.progress || {};
      set('state', d.job.state);
      set('stage', p.stage ? (Number(p.stage_index || 0) + 1) + '/' +
          p.stage_count + ' ' + p.stage : '');
      set('epoch', p.epochs ? (p.epoch || 0) + '/' + p.epochs : '');
      set('batch', p.batches ? (p.batch || 0) + '/' + p.batches : '');
      set('loss', p.loss !== undefined ? Number(p.loss).toFixed(4) : '');
      set('accuracy', p.accuracy > 0 ? (100 * p.accuracy).toFixed(2) + '%' : '');
      set('sparsity', p.sparsity ? (100 * p.sparsity).toFixed(1) + '%' : '');
      const bar = document.getElementById('bar');
      if (bar && p.batches) bar.value = Number(p.batch || 0) / Number(p.batches);
      if (d.final) { location.reload(); return; }
    } catch (err) { set('live', 'reconnecting (' + err.message + ')'); }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1500);
})();
</script>)js";

}  // namespace

std::string FormValue(const std::string& form, const std::string& key) {
  for (absl::string_view pair : absl::StrSplit(form, '&')) {
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != key || eq == absl::string_view::npos) continue;
    std::string out;
    absl::string_view v = pair.substr(eq + 1);
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '+') {
        out += ' ';
      } else if (v[i] == '%' && i + 2 < v.size()) {
        int byte = 0;
        if (absl::SimpleHexAtoi(v.substr(i + 1, 2), &byte)) {
          out += static_cast<char>(byte);
          i += 2;
        } else {
          out += '%';
        }
      } else {
        out += v[i];
      }
    }
    return out;
  }
  return "";
}

std::string CookieValue(const std::string& header, const std::string& name) {
  for (absl::string_view part : absl::StrSplit(header, ';')) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    const size_t eq = part.find('=');
    if (eq != absl::string_view::npos && part.substr(0, eq) == name) {
      return std::string{part.substr(eq + 1)};
    }
  }
  return "";
}

HttpResponse WebView::Handle(const HttpRequest& request) {
  const std::string& path = request.path;
  if (path == "/" || path.empty()) return Redirect("/jobs");
  if (path == "/login") return Login(request);
  if (path == "/logout") {
    HttpResponse r = Redirect("/login");
    r.headers.emplace_back("Set-Cookie",
                           absl::StrCat(kCookie,
                                        "=; Path=/; Max-Age=0; "
                                        "HttpOnly; SameSite=Strict"));
    return r;
  }
  if (path != "/jobs" && path.rfind("/jobs/", 0) != 0) {
    return Text(404, "not found; the web view lives under /jobs");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r = Text(405, "method not allowed; use GET");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }

  // The same credentials as the gRPC API: a bearer header, or the cookie.
  std::string authorization;
  if (auto it = request.headers.find("authorization");
      it != request.headers.end()) {
    authorization = it->second;
  } else if (auto c = request.headers.find("cookie");
             c != request.headers.end()) {
    const std::string token = CookieValue(c->second, kCookie);
    if (!token.empty()) authorization = "Bearer " + token;
  }
  auto caller = auth_->Authenticate(authorization);
  if (!caller.ok()) {
    if (authorization.empty() && path.find(".json") == std::string::npos) {
      return Redirect("/login");
    }
    return ErrorPage(caller.status(), false);
  }

  if (path == "/jobs") return JobList(*caller, request);
  std::vector<std::string> parts =
      absl::StrSplit(path.substr(6), '/', absl::SkipEmpty());
  if (parts.empty() || !ValidId(parts[0])) {
    return ErrorPage(absl::InvalidArgumentError(
                         "a job page is /jobs/ID, ID as in `condense list`"),
                     true);
  }
  if (parts.size() == 1) return JobPage(*caller, parts[0]);
  if (parts.size() == 2 && parts[1] == "events.json") {
    return JobEvents(*caller, parts[0], request);
  }
  // FILE, or model-shards/FILE.
  if ((parts.size() == 3 || parts.size() == 4) && parts[1] == "files") {
    return JobFile(*caller, parts[0],
                   absl::StrJoin(parts.begin() + 2, parts.end(), "/"));
  }
  return Text(404, "not found");
}

HttpResponse WebView::Login(const HttpRequest& request) {
  std::string error;
  if (request.method == "POST") {
    const std::string token = FormValue(request.body, "token");
    auto caller = auth_->Authenticate("Bearer " + token);
    if (caller.ok() && !token.empty()) {
      HttpResponse r = Redirect("/jobs");
      r.headers.emplace_back(
          "Set-Cookie", absl::StrCat(kCookie, "=", token,
                                     "; Path=/; HttpOnly; SameSite=Strict"));
      return r;
    }
    error =
        caller.ok() ? "give a token" : std::string{caller.status().message()};
  }
  const std::string note =
      auth_->open() ? "<p class=\"muted\">This server is open (no token "
                      "file): <a href=\"/jobs\">go to the jobs</a>.</p>"
                    : "";
  return Page(
      error.empty() ? 200 : 401, "Sign in",
      absl::StrCat(
          "<h1>Sign in</h1>", note,
          error.empty()
              ? ""
              : absl::StrCat("<p class=\"error\">", HtmlEscape(error), "</p>"),
          "<form method=\"post\" action=\"/login\"><label for=\"token\">API "
          "token (the one the CLI uses as CONDENSE_TOKEN)</label><input "
          "id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
          "required><button type=\"submit\">Sign in</button></form>"),
      false);
}

HttpResponse WebView::JobList(const Caller& caller,
                              const HttpRequest& request) {
  v1::Job::State state = v1::Job::STATE_UNSPECIFIED;
  const std::string wanted = FormValue(request.query, "state");
  if (!wanted.empty() && !v1::Job::State_Parse(wanted, &state)) {
    return ErrorPage(absl::InvalidArgumentError(absl::StrCat(
                         "unknown state ", wanted,
                         "; use QUEUED, RUNNING, SUCCEEDED, FAILED or "
                         "CANCELLED")),
                     true);
  }
  auto jobs = store_->ListJobs(caller.tenant, state, 200, "");
  if (!jobs.ok()) return ErrorPage(jobs.status(), true);
  std::string body = absl::StrCat(
      "<h1>Jobs</h1><p class=\"muted\">Tenant ", HtmlEscape(caller.tenant),
      " \xC2\xB7 filter: <a href=\"/jobs\">all</a>");
  for (const char* s :
       {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"}) {
    absl::StrAppend(&body, " <a href=\"/jobs?state=", s, "\">",
                    absl::AsciiStrToLower(s), "</a>");
  }
  absl::StrAppend(&body,
                  "</p><table id=\"jobs\"><thead><tr><th>job</th><th>state"
                  "</th><th>preset</th><th>model</th><th>progress</th>"
                  "<th>ratio</th><th>accuracy</th><th>created</th></tr>"
                  "</thead><tbody>");
  bool live = false;
  for (const v1::Job& job : jobs->jobs()) {
    live |= !JobEnded(job.state());
    const std::string id = Short(job.name());
    const v1::JobResult& r = job.result();
    const bool done = job.state() == v1::Job::SUCCEEDED;
    absl::StrAppend(&body, "<tr><td><a href=\"/jobs/", HtmlEscape(id), "\">",
                    HtmlEscape(id), "</a></td><td>", StateBadge(job.state()),
                    "</td><td>", HtmlEscape(job.spec().preset()), "</td><td>",
                    HtmlEscape(Short(job.model())), "</td><td>",
                    ProgressText(job), "</td><td class=\"num\">",
                    done ? absl::StrFormat("%.1f\xC3\x97", r.ratio()) : "",
                    "</td><td class=\"num\">",
                    done && r.accuracy_after() >= 0
                        ? absl::StrFormat("%.2f%% \xE2\x86\x92 %.2f%%",
                                          100 * r.accuracy_before(),
                                          100 * r.accuracy_after())
                        : "",
                    "</td><td>", When(job.create_time_unix_ms()), "</td></tr>");
  }
  absl::StrAppend(&body, "</tbody></table>");
  if (jobs->jobs().empty()) {
    absl::StrAppend(&body,
                    "<p class=\"muted\">No jobs yet: submit one with "
                    "<code>condense submit</code> or the Python SDK.</p>");
  }
  // Refreshes itself while something is queued or running.
  return Page(200, "Jobs", body, true,
              live ? "<meta http-equiv=\"refresh\" content=\"5\">" : "");
}

HttpResponse WebView::JobPage(const Caller& caller, const std::string& id) {
  auto job_or = store_->GetJob(caller.tenant, "jobs/" + id);
  if (!job_or.ok()) return ErrorPage(job_or.status(), true);
  const v1::Job& job = *job_or;
  const bool final = JobEnded(job.state());
  const v1::JobProgress& p = job.progress();
  std::string body = absl::StrCat(
      "<h1>Job ", HtmlEscape(id), " <span id=\"state\" class=\"state ",
      v1::Job::State_Name(job.state()), "\">", v1::Job::State_Name(job.state()),
      "</span></h1><p class=\"muted\">", "model ",
      HtmlEscape(Short(job.model())), " \xC2\xB7 dataset ",
      HtmlEscape(job.dataset().empty() ? "none" : Short(job.dataset())),
      " \xC2\xB7 preset ", HtmlEscape(job.spec().preset()),
      " \xC2\xB7 attempt ", job.attempts(), "/", job.max_attempts(),
      " \xC2\xB7 created ", When(job.create_time_unix_ms()),
      job.worker().empty()
          ? ""
          : absl::StrCat(" \xC2\xB7 worker ", HtmlEscape(job.worker())),
      "</p>");
  if (job.state() == v1::Job::SUCCEEDED) {
    const v1::JobResult& r = job.result();
    absl::StrAppend(&body,
                    "<div class=\"grid\"><div class=\"box\"><div class=\"k\">"
                    "compression ratio</div><div class=\"v\" id=\"ratio\">",
                    absl::StrFormat("%.1f\xC3\x97", r.ratio()), "</div></div>");
    if (r.accuracy_after() >= 0) {
      absl::StrAppend(
          &body,
          "<div class=\"box\"><div class=\"k\">top-1 accuracy</div>"
          "<div class=\"v\" id=\"accuracy\">",
          absl::StrFormat("%.2f%% \xE2\x86\x92 %.2f%%",
                          100 * r.accuracy_before(), 100 * r.accuracy_after()),
          "</div></div>");
    }
    absl::StrAppend(&body, "</div><h2>Downloads</h2><ul id=\"downloads\">");
    bool has_report = false;
    for (const v1::Artifact& a : r.artifacts()) {
      has_report |= a.file_name() == artifacts::kReportHtml;
      absl::StrAppend(&body, "<li><a href=\"/jobs/", HtmlEscape(id), "/files/",
                      HtmlEscape(a.file_name()), "\">",
                      HtmlEscape(a.file_name()), "</a> <span class=\"muted\">",
                      a.blob().size_bytes(), " bytes, sha256 ",
                      HtmlEscape(a.blob().sha256().substr(0, 16)),
                      "\xE2\x80\xA6</span></li>");
    }
    absl::StrAppend(&body, "</ul>");
    if (has_report) {
      absl::StrAppend(&body,
                      "<h2>Report</h2><iframe sandbox "
                      "title=\"report\" src=\"/jobs/",
                      HtmlEscape(id), "/files/report.html\"></iframe>");
    }
  } else if (job.state() == v1::Job::FAILED ||
             job.state() == v1::Job::CANCELLED) {
    absl::StrAppend(&body, "<p class=\"error\" id=\"error\">",
                    HtmlEscape(job.error().message().empty()
                                   ? v1::Job::State_Name(job.state())
                                   : job.error().message()),
                    "</p>");
  } else {
    const double fraction =
        p.batches() > 0 ? static_cast<double>(p.batch()) / p.batches() : 0;
    absl::StrAppend(
        &body,
        "<p class=\"muted\" id=\"live\">live: updates every 1.5 s</p>"
        "<div class=\"grid\">",
        absl::StrCat("<div class=\"box\"><div class=\"k\">stage</div><div "
                     "class=\"v\" id=\"stage\">",
                     p.stage().empty() ? ""
                                       : absl::StrCat(p.stage_index() + 1, "/",
                                                      p.stage_count(), " ",
                                                      HtmlEscape(p.stage())),
                     "</div></div>"),
        "<div class=\"box\"><div class=\"k\">epoch</div><div class=\"v\" "
        "id=\"epoch\"></div></div><div class=\"box\"><div class=\"k\">batch"
        "</div><div class=\"v\" id=\"batch\"></div></div><div class=\"box\">"
        "<div class=\"k\">loss</div><div class=\"v\" id=\"loss\"></div></div>"
        "<div class=\"box\"><div class=\"k\">accuracy</div><div class=\"v\" "
        "id=\"accuracy\"></div></div><div class=\"box\"><div class=\"k\">"
        "sparsity</div><div class=\"v\" id=\"sparsity\"></div></div></div>",
        absl::StrFormat("<progress id=\"bar\" max=\"1\" value=\"%.3f\">"
                        "</progress>",
                        fraction));
  }
  // The latest events, newest first (the script adds new ones on top).
  auto events =
      store_->ReadEvents(caller.tenant, job.name(),
                         std::max<int64_t>(1, p.last_sequence() - 49), 50);
  int64_t last = 0;
  std::string rows;
  if (events.ok()) {
    for (auto it = events->rbegin(); it != events->rend(); ++it) {
      last = std::max(last, it->sequence());
      absl::StrAppend(&rows, "<tr><td>", it->sequence(), "</td><td>",
                      v1::JobEvent::Kind_Name(it->kind()), "</td><td>",
                      HtmlEscape(it->stage()), "</td><td>",
                      HtmlEscape(it->message()), "</td></tr>");
    }
  }
  absl::StrAppend(&body,
                  "<h2>Events</h2><table><thead><tr><th>#</th><th>kind</th>"
                  "<th>stage</th><th>message</th></tr></thead><tbody "
                  "id=\"events\">",
                  rows, "</tbody></table>");
  HttpResponse page = Page(200, absl::StrCat("Job ", id), body, true);
  if (!final) {
    // The body's data attributes tell the script where to go on from.
    const std::string open = "<body>";
    page.body.replace(page.body.find(open), open.size(),
                      absl::StrCat("<body data-job=\"", HtmlEscape(id),
                                   "\" data-after=\"", last, "\">"));
    page.body.insert(page.body.rfind("</body>"), kPollScript);
  }
  return page;
}

HttpResponse WebView::JobEvents(const Caller& caller, const std::string& id,
                                const HttpRequest& request) {
  int64_t after = 0;
  const std::string after_text = FormValue(request.query, "after");
  if (!after_text.empty() && !absl::SimpleAtoi(after_text, &after)) {
    return Text(400, "after must be a number (the last sequence seen)");
  }
  auto job = store_->GetJob(caller.tenant, "jobs/" + id);
  if (!job.ok()) {
    return Text(absl::IsNotFound(job.status()) ? 404 : 500,
                std::string{job.status().message()});
  }
  auto events = store_->ReadEvents(caller.tenant, job->name(),
                                   std::max<int64_t>(after + 1, 1), 500);
  if (!events.ok()) return Text(500, std::string{events.status().message()});
  const bool final = JobEnded(job->state());
  v1::Job summary = *job;
  summary.clear_spec();
  summary.mutable_result()->clear_report_json();
  std::string body =
      absl::StrCat("{\"final\":", final ? "true" : "false",
                   ",\"job\":", ToJson(summary), ",\"events\":[");
  for (size_t i = 0; i < events->size(); ++i) {
    absl::StrAppend(&body, i ? "," : "", ToJson((*events)[i]));
  }
  return Json(body + "]}");
}

HttpResponse WebView::JobFile(const Caller& caller, const std::string& id,
                              const std::string& file) {
  // Artifacts may be downloaded by these names only.
  if (!artifacts::IsArtifactName(file)) {
    return Text(404, absl::StrCat("no artifact ", file,
                                  "; jobs have model.cdz, model.pt, "
                                  "model.safetensors, model.onnx, "
                                  "model-shards/..., report.json, "
                                  "report.html"));
  }
  auto job = store_->GetJob(caller.tenant, "jobs/" + id);
  if (!job.ok()) {
    return Text(absl::IsNotFound(job.status()) ? 404 : 500,
                std::string{job.status().message()});
  }
  for (const v1::Artifact& a : job->result().artifacts()) {
    if (a.file_name() != file) continue;
    auto reader = blobs_->OpenReader(
        caller.tenant, false, {a.blob().sha256(), a.blob().size_bytes()}, 0);
    if (!reader.ok()) return Text(404, std::string{reader.status().message()});
    HttpResponse r;
    r.content_type = ContentType(file);
    r.content_length = a.blob().size_bytes();
    if (file == artifacts::kReportHtml) {
      // The report has no scripts; keep it that way even if it were forged.
      r.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; style-src 'unsafe-inline'; "
                             "img-src data:; sandbox");
    } else {
      r.headers.emplace_back(
          "Content-Disposition",
          absl::StrCat("attachment; filename=\"", id, "-", file, "\""));
    }
    std::shared_ptr<BlobStore::Reader> shared(std::move(*reader));
    r.stream = [shared](const std::function<bool(std::string_view)>& write) {
      while (shared->remaining() > 0) {
        auto chunk = shared->Next(1 << 20);
        // A damaged blob ends the response short: the client sees it.
        if (!chunk.ok() || chunk->empty()) return false;
        if (!write(*chunk)) return false;
      }
      return true;
    };
    return r;
  }
  return Text(404, absl::StrCat(job->name(), " has no ", file,
                                job->state() == v1::Job::SUCCEEDED
                                    ? ""
                                    : " (it has not succeeded)"));
}

}  // namespace condense::server
