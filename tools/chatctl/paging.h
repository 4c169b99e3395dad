// Helpers shared by the commands: pages of list endpoints, user arguments, URL encoding.
#pragma once

#include <string>

#include "cli.h"

namespace chat::ctl {

// --after, --limit and --all.
void AddPageOptions(po::options_description& o);
// GETs `path` with the page options; with --all, follows `next` until the end and returns one
// response holding every item of `items_key` (and "next": null). Extra query parameters may already
// be in `path`.
Result<Json> FetchPages(Invocation& inv, const std::string& path, const std::string& items_key);
// Tells people how to get the next page, if there is one.
void PrintMoreHint(Invocation& inv, const Json& page);

// True for a decimal number (an id rather than a name).
bool IsId(const std::string& s);
// An id field of a response (a JSON number) as text.
std::string Id(const Json& j);
// Percent-encodes everything but unreserved characters (RFC 3986).
std::string UrlEncode(const std::string& s);

// `USER` of the command line: a numeric id or a username (a username always with --by-name, where
// the command has that option). Looked up either way, so that a wrong one fails with not_found.
Result<Json> FetchUser(Invocation& inv, const std::string& user);
// `USER` as an id: a numeric one as it is, a username looked up (not_found if unknown).
Result<std::string> UserIdOf(Invocation& inv, const std::string& user);

}  // namespace chat::ctl
