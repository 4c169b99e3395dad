// Bulk provisioning of test accounts for load generators: POST /v1/provision
//   {"prefix": "lg", "count": 10000, "password": "...", "deviceKind": "loadgen", "deviceName": "..."}
// makes users prefix-0 .. prefix-(count-1), each with one fresh device session, and returns their ids
// and tokens.
//
// FOR TEST ACCOUNTS ONLY. Argon2id is slow on purpose (that is its protection), so the password is
// hashed once and every new account gets that same hash: all of them share one salt, and cracking
// one cracks all. Tokens are issued without a password check, on the admin token's authority.
//
// Idempotent by username: an existing user is reused (its password is left alone), its previous
// sessions of `deviceKind` are revoked, and it gets a new one; so calling again after a failure, or
// before each run, converges to `count` users with one live session each.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>

#include "api.h"
#include "mutex.h"

namespace chat::admin {
namespace {

struct Provisioned {
  std::string username;
  UserId user = 0;
  DeviceId device = 0;
  std::string token;
  bool created = false;
};

bool IsNameChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'; }

void CheckPrefix(const std::string& prefix, std::uint64_t count) {
  const bool chars_ok = !prefix.empty() && std::all_of(prefix.begin(), prefix.end(), IsNameChar) &&
                        (std::isalnum(static_cast<unsigned char>(prefix[0])) != 0);
  // The longest name made, prefix-(count-1), must still be a valid username (3..32 characters).
  const std::size_t longest = prefix.size() + 1 + std::to_string(count - 1).size();
  if (!chars_ok || longest > 32) {
    Throw(Status::InvalidArgument(
        "prefix must be lower-case letters, digits, '_', '.' or '-', start with a letter or digit, and leave "
        "room for '-N' within 32 characters"));
  }
}

void CheckDeviceField(const char* field, const std::string& value, std::size_t max, bool required) {
  const bool ok = (!required || !value.empty()) && value.size() <= max &&
                  std::all_of(value.begin(), value.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-' ||
                           c == ' ';
                  });
  if (!ok) {
    Throw(Status::InvalidArgument(std::string(field) + " must be " + (required ? "1" : "0") + " to " +
                                  std::to_string(max) + " letters, digits, spaces, '_', '.' or '-'"));
  }
}

// One account: find or create the user, drop its earlier sessions of this kind, issue a new one.
Result<Provisioned> ProvisionOne(ChatService& service, const std::string& name, const std::string& hash,
                                 const DeviceInfo& device) {
  Provisioned p;
  p.username = name;
  auto user = service.FindUser(name);
  if (!user.ok()) {
    if (!user.error().IsNotFound()) return user.error();
    user = service.RegisterWithHash({name, "", "", "", ""}, hash);
    // Another provisioning call made it first: reuse theirs.
    if (!user.ok() && user.error().code() == StatusCode::kAlreadyExists) user = service.FindUser(name);
    else p.created = user.ok();
    if (!user.ok()) return user.error();
  }
  if (!p.created) {
    LIBCHAT_ASSIGN_OR_RETURN(auto devices, service.ListDevices(user->id));
    for (const auto& d : devices) {
      if (d.kind != device.kind) continue;
      Status s = service.RemoveDevice(user->id, d.id);
      if (!s.ok() && !s.IsNotFound()) return s;
    }
  }
  LIBCHAT_ASSIGN_OR_RETURN(Session session, service.IssueSession(user->id, device));
  p.user = user->id;
  p.device = session.device.id;
  p.token = std::move(session.token);
  return p;
}

}  // namespace

void AddProvisionRoutes(Context& ctx, Routes* routes) {
  routes->push_back({"POST", "/v1/provision", [&ctx](const httplib::Request& req) {
    Query q(req, {});
    Body b(req);
    const std::string prefix = b.RequiredString("prefix");
    const std::uint64_t count = b.RequiredUInt("count");
    const std::string password = b.RequiredString("password");
    const DeviceInfo device{b.String("deviceKind", "loadgen"), b.String("deviceName", "provisioned")};
    b.Finish();
    // Everything is checked before the first account is written.
    if (count < 1 || count > ctx.options.max_provision) {
      Throw(Status::InvalidArgument("count must be from 1 to " + std::to_string(ctx.options.max_provision)));
    }
    CheckPrefix(prefix, count);
    CheckDeviceField("deviceKind", device.kind, 32, true);
    CheckDeviceField("deviceName", device.name, 64, false);
    // The one Argon2id hash of this call (it also checks the password's length).
    const std::string hash = Must(ctx.service.HashPassword(password));

    std::vector<Provisioned> done(count);
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> failed{false};
    // The first failure; the other writers stop at their next account.
    struct FirstError {
      detail::Mutex mu;
      Status status GUARDED_BY(mu);
      std::string name GUARDED_BY(mu);
    } first;
    auto work = [&] {
      while (!failed.load()) {
        const std::uint64_t i = next.fetch_add(1);
        if (i >= count) return;
        const std::string name = prefix + "-" + std::to_string(i);
        auto p = ProvisionOne(ctx.service, name, hash, device);
        if (!p.ok()) {
          detail::MutexLock lock(&first.mu);
          if (!failed.exchange(true)) {
            first.status = p.error();
            first.name = name;
          }
          return;
        }
        done[i] = std::move(*p);
      }
    };
    // Several writers at once, so that their commits share fsyncs (group commit).
    const unsigned threads = static_cast<unsigned>(
        std::min<std::uint64_t>(std::max(1u, ctx.options.provision_threads), count));
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();

    if (failed) {
      detail::MutexLock lock(&first.mu);
      ApiError e = FromStatus(first.status);
      throw ApiError(e.http_status(), e.code(),
                     first.name + ": " + e.message() +
                         " (accounts before it may have been provisioned; provisioning is idempotent: run it again)");
    }
    std::uint64_t created = 0;
    Reply r;
    r.body["prefix"] = prefix;
    r.body["deviceKind"] = device.kind;
    r.body["users"] = Json::array();
    for (const auto& p : done) {
      created += p.created ? 1 : 0;
      r.body["users"].push_back(
          {{"username", p.username}, {"userId", p.user}, {"deviceId", p.device}, {"token", p.token}});
    }
    r.body["count"] = count;
    r.body["created"] = created;
    r.body["reused"] = count - created;
    ctx.audit("admin: provisioned " + detail::LogEscape(prefix) + "-0.." + detail::LogEscape(prefix) + "-" +
              std::to_string(count - 1) + " (" + std::to_string(created) + " created, " +
              std::to_string(count - created) + " reused), sessions of kind '" + detail::LogEscape(device.kind) +
              "' issued");
    return r;
  }});
}

}  // namespace chat::admin
