// KvStore: users, devices and credentials. Everything that decides who may hold a session (a user's
// password hash, `disabled`, a ban, a device and its token) is checked and written under the user's
// stripe lock, so a check and the write it guards are never apart.
#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {

// ---------------------------------------------------------------- users

Result<User> KvStore::CreateUser(User user) {
  // Usernames are unique: the check and the write under the name's stripe.
  MutexLock lock(&StripeFor(std::hash<std::string>()(user.username)));
  auto existing = engine_->Get(keys::UserName(user.username));
  if (existing.ok()) return Status::AlreadyExists("username '" + user.username + "' is taken");
  if (!existing.error().IsNotFound()) return existing.error();
  auto ticket = std::make_shared<Ticket>();
  user.id = NextId(&next_user_, keys::kNextUser, ticket.get());
  ticket->batch.Put(keys::User(user.id), EncodeUser(user));
  std::string id_value;
  keys::AppendBE(&id_value, user.id);
  ticket->batch.Put(keys::UserName(user.username), id_value);
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  return user;
}

Result<User> KvStore::GetUser(UserId id) {
  auto v = engine_->Get(keys::User(id));
  if (!v.ok()) return NotFoundOr(v.error(), "user " + std::to_string(id));
  return DecodeUser(*v);
}

Result<User> KvStore::FindUserByName(std::string_view username) {
  auto v = engine_->Get(keys::UserName(username));
  if (!v.ok()) return NotFoundOr(v.error(), "user '" + std::string(username) + "'");
  return GetUser(keys::ReadBE(*v, 0));
}

Status KvStore::UpdateUser(UserId id, const std::function<Status(User*)>& edit) {
  MutexLock lock(&StripeFor(id));
  LIBCHAT_ASSIGN_OR_RETURN(User current, GetUser(id));
  User updated = current;
  LIBCHAT_RETURN_IF_ERROR(edit(&updated));
  if (updated.id != current.id || updated.username != current.username) {
    return Status::InvalidArgument("a user's id and username cannot change");
  }
  if (updated.password_hash != current.password_hash || updated.disabled != current.disabled) {
    return Status::InvalidArgument("passwords and disabling change through ChangeCredentials");
  }
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Put(keys::User(id), EncodeUser(updated));
  return commits_.Commit(ticket);
}

Result<std::vector<User>> KvStore::ListUsers(UserId after, std::size_t limit) {
  std::vector<User> out;
  const std::string prefix = keys::UserPrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(keys::User(after + 1)); it->Valid() && out.size() < limit; it->Next()) {
    if (it->key().substr(0, prefix.size()) != prefix) break;
    auto u = DecodeUser(it->value());
    if (!u.ok()) return u.error();
    out.push_back(std::move(*u));
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  return out;
}

Result<CredentialChangeResult> KvStore::ChangeCredentials(const CredentialChange& change) {
  MutexLock lock(&StripeFor(change.user));
  LIBCHAT_ASSIGN_OR_RETURN(User user, GetUser(change.user));
  if (!change.expected_password_hash.empty() && user.password_hash != change.expected_password_hash) {
    return Status::Unauthenticated("the password changed meanwhile");
  }
  auto ticket = std::make_shared<Ticket>();
  KvBatch& b = ticket->batch;
  const bool banned = engine_->Get(keys::Ban(user.id)).ok();
  if (change.keep_only_if_live && (user.disabled || banned)) {
    return Status::PermissionDenied("account '" + user.username + "' is " + (banned ? "banned" : "disabled"));
  }
  if (change.lift_ban) {
    if (!banned) return Status::NotFound("user " + std::to_string(user.id) + " is not banned");
    b.Delete(keys::Ban(user.id));
  }
  if (change.ban) {
    UserBan ban = *change.ban;
    ban.user = user.id;
    b.Put(keys::Ban(user.id), EncodeBan(ban));
  }
  if (change.disabled) {
    if (!*change.disabled && change.refuse_if_banned && banned && !change.lift_ban) {
      return Status::FailedPrecondition("account '" + user.username + "' is banned; unban it to let it log in again");
    }
    user.disabled = *change.disabled;
  }
  if (change.new_password_hash) user.password_hash = *change.new_password_hash;
  b.Put(keys::User(user.id), EncodeUser(user));

  CredentialChangeResult result;
  LIBCHAT_ASSIGN_OR_RETURN(auto devices, ListDevicesUnlocked(user.id));
  bool kept_found = change.keep_device == 0;
  const TimeMs now = options_.clock->NowMs();
  for (const Device& d : devices) {
    if (d.id == change.keep_device) {
      kept_found = true;
      if (change.keep_only_if_live && d.token_hash.empty()) {
        return Status::FailedPrecondition("device " + std::to_string(d.id) + " has no live session");
      }
      Device kept = d;
      kept.token_hash = change.keep_token_hash;
      kept.token_expires_at = change.keep_token_expires_at;
      PutDevice(kept, &d, &b);
      result.kept = kept;
      continue;
    }
    switch (change.others) {
      case CredentialChange::Others::kKeep:
        continue;
      case CredentialChange::Others::kForgetTokens: {
        result.others.push_back(d.id);
        if (d.token_hash.empty()) continue;
        Device forgotten = d;
        forgotten.token_hash.clear();
        PutDevice(forgotten, &d, &b);
        continue;
      }
      case CredentialChange::Others::kRemove:
        result.others.push_back(d.id);
        LIBCHAT_RETURN_IF_ERROR(RemoveDeviceInto(d, now, &b));
        continue;
    }
  }
  if (!kept_found) {
    return Status::NotFound("device " + std::to_string(change.keep_device) + " is not the user's");
  }
  // Ban, disable and kept device in one synced write: a login checked against the old state either
  // added its device before this (it is among `others`) or finds this state (AddDevice).
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  result.user = std::move(user);
  return result;
}

// ---------------------------------------------------------------- devices

Result<Device> KvStore::AddDevice(Device device, std::size_t max_devices, std::string_view verified_password_hash) {
  MutexLock lock(&StripeFor(device.user));
  LIBCHAT_ASSIGN_OR_RETURN(User user, GetUser(device.user));
  // The login's password check ran before this lock: refuse if what it checked no longer holds.
  if (user.disabled) return Status::PermissionDenied("account '" + user.username + "' is disabled");
  if (!verified_password_hash.empty() && user.password_hash != verified_password_hash) {
    return Status::Unauthenticated("the password changed meanwhile");
  }
  std::size_t count = 0;
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::UserDevicePrefix(device.user),
                                     [&](std::string_view, std::string_view) { return ++count, true; }));
  if (count >= max_devices) {
    return Status::FailedPrecondition("device limit reached: user " + std::to_string(device.user) +
                                      " already has " + std::to_string(count) + " of " +
                                      std::to_string(max_devices) + " devices");
  }
  auto ticket = std::make_shared<Ticket>();
  device.id = NextId(&next_device_, keys::kNextDevice, ticket.get());
  PutDevice(device, nullptr, &ticket->batch);
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  return device;
}

Result<Device> KvStore::GetDevice(DeviceId id) {
  auto v = engine_->Get(keys::Device(id));
  if (!v.ok()) return NotFoundOr(v.error(), "device " + std::to_string(id));
  return DecodeDevice(*v);
}

Result<std::vector<Device>> KvStore::ListDevices(UserId user) { return ListDevicesUnlocked(user); }

Result<std::vector<Device>> KvStore::ListDevicesUnlocked(UserId user) {
  std::vector<DeviceId> ids;
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::UserDevicePrefix(user), [&](std::string_view k, std::string_view) {
    ids.push_back(keys::ReadBE(k, k.size() - 8));
    return true;
  }));
  std::vector<Device> out;
  for (DeviceId id : ids) {
    auto d = GetDevice(id);
    if (d.ok()) {
      out.push_back(std::move(*d));
    } else if (!d.error().IsNotFound()) {
      return d.error();
    }
  }
  return out;
}

Status KvStore::UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) {
  LIBCHAT_ASSIGN_OR_RETURN(Device found, GetDevice(id));
  MutexLock lock(&StripeFor(found.user));
  // Re-read under the lock: the edit applies to the current record, never to a stale copy.
  LIBCHAT_ASSIGN_OR_RETURN(Device current, GetDevice(id));
  Device updated = current;
  LIBCHAT_RETURN_IF_ERROR(edit(&updated));
  if (updated.id != current.id || updated.user != current.user || updated.token_hash != current.token_hash) {
    return Status::InvalidArgument("a device's id, user and token change only through ChangeCredentials");
  }
  auto ticket = std::make_shared<Ticket>();
  PutDevice(updated, &current, &ticket->batch);
  return commits_.Commit(ticket);
}

Result<Device> KvStore::FindDeviceByTokenHash(std::string_view token_hash) {
  if (token_hash.empty()) return Status::NotFound("empty token");
  auto v = engine_->Get(keys::DeviceToken(token_hash));
  if (!v.ok()) return NotFoundOr(v.error(), "token");
  LIBCHAT_ASSIGN_OR_RETURN(Device d, GetDevice(keys::ReadBE(*v, 0)));
  // The index and the record are written together; this only guards against a torn import.
  if (d.token_hash != token_hash) return Status::NotFound("token");
  return d;
}

Status KvStore::RemoveDevice(DeviceId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Device found, GetDevice(id));
  MutexLock lock(&StripeFor(found.user));
  LIBCHAT_ASSIGN_OR_RETURN(Device d, GetDevice(id));
  auto ticket = std::make_shared<Ticket>();
  LIBCHAT_RETURN_IF_ERROR(RemoveDeviceInto(d, options_.clock->NowMs(), &ticket->batch));
  return commits_.Commit(ticket);
}

Status KvStore::RemoveDeviceInto(const Device& d, TimeMs now, KvBatch* b) {
  b->Delete(keys::Device(d.id));
  b->Delete(keys::UserDevice(d.user, d.id));
  if (!d.token_hash.empty()) b->Delete(keys::DeviceToken(d.token_hash));
  if (d.last_seen != 0) b->Delete(keys::DeviceSeen(DayOf(d.last_seen), d.id));
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::DeviceCursorPrefix(d.id), [&](std::string_view k, std::string_view) {
    b->Delete(std::string(k));
    return true;
  }));
  // A cursor write queued before this (an ack in flight) reaches the engine after the scan above;
  // the retention sweep erases it, by this marker, once no such write can be left.
  b->Put(keys::DeviceGone(now, d.id), "");
  return Status::Ok();
}

void KvStore::PutDevice(const Device& d, const Device* old, KvBatch* b) {
  b->Put(keys::Device(d.id), EncodeDevice(d));
  if (old == nullptr || old->user != d.user || old->id != d.id) b->Put(keys::UserDevice(d.user, d.id), "");
  const bool same_token = old != nullptr && old->token_hash == d.token_hash && old->id == d.id;
  if (old != nullptr && old->token_hash != d.token_hash && !old->token_hash.empty()) {
    b->Delete(keys::DeviceToken(old->token_hash));
  }
  if (!d.token_hash.empty() && !same_token) {
    std::string v;
    keys::AppendBE(&v, d.id);
    b->Put(keys::DeviceToken(d.token_hash), v);
  }
  const TimeMs old_day = old != nullptr && old->last_seen != 0 ? DayOf(old->last_seen) : -1;
  const TimeMs new_day = d.last_seen != 0 ? DayOf(d.last_seen) : -1;
  if (old_day != new_day) {
    if (old_day >= 0) b->Delete(keys::DeviceSeen(old_day, d.id));
    if (new_day >= 0) b->Put(keys::DeviceSeen(new_day, d.id), "");
  }
}

Status KvStore::TouchDevice(DeviceId id, TimeMs when) {
  LIBCHAT_ASSIGN_OR_RETURN(Device found, GetDevice(id));
  MutexLock lock(&StripeFor(found.user));
  LIBCHAT_ASSIGN_OR_RETURN(Device old, GetDevice(id));  // Re-read under the lock.
  if (when <= old.last_seen) return Status::Ok();
  Device updated = old;
  updated.last_seen = when;
  // Through the commit queue (not fsynced on its own) so that device writes stay in order.
  auto ticket = std::make_shared<Ticket>();
  ticket->sync = false;
  PutDevice(updated, &old, &ticket->batch);
  return commits_.Commit(ticket);
}

}  // namespace chat::detail
