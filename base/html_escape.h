// HTML escaping for text and attribute values, shared by report.html and
// the server's web view. Pure; thread-safe.
#ifndef CONDENSE_BASE_HTML_ESCAPE_H_
#define CONDENSE_BASE_HTML_ESCAPE_H_

#include <string>

namespace condense::base {

// `text` with &, <, >, " and ' escaped for HTML text and attributes.
std::string HtmlEscape(const std::string& text);

}  // namespace condense::base

#endif  // CONDENSE_BASE_HTML_ESCAPE_H_
