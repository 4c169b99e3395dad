// PgStore: users, devices and credentials. Everything that decides who may hold a session is checked
// and written in one transaction that holds the user's row lock (SELECT ... FOR UPDATE), so a
// password change, ban or disable and a login's AddDevice are serialised across every process.
#include "pg_rows.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

// The token column is NULL for a device without a session, so that "no token" is never unique.
Params DeviceParams(const Device& d) {
  Params p;
  p.Uint(d.id).Uint(d.user).Bytes(d.kind).Bytes(d.name).Bytes(d.push_provider).Bytes(d.push_token);
  if (d.token_hash.empty()) {
    p.Text("");
  } else {
    p.Text(d.token_hash);
  }
  p.Int(d.token_expires_at).Int(d.created_at).Int(d.last_seen);
  return p;
}

constexpr const char* kInsertDevice =
    "INSERT INTO devices (id, user_id, kind, name, push_provider, push_token, token_hash, token_expires_at, "
    "created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10)";
constexpr const char* kUpdateDevice =
    "UPDATE devices SET kind = $3, name = $4, push_provider = $5, push_token = $6, token_hash = NULLIF($7, ''), "
    "token_expires_at = $8, created_at = $9, last_seen = $10 WHERE id = $1 AND user_id = $2";

Result<User> LockedUser(Conn& c, UserId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT ") + kUserCols + " FROM users WHERE id = $1 FOR UPDATE",
                                          Params().Uint(id)));
  if (r.empty()) return Status::NotFound("user " + std::to_string(id));
  return UserAt(r, 0);
}

Status WriteUser(Conn& c, const User& u) {
  return c.Exec("UPDATE users SET display_name = $2, email = $3, password_hash = $4, avatar_url = $5, "
                "created_at = $6, disabled = $7, last_seen_visibility = $8 WHERE id = $1",
                Params().Uint(u.id).Bytes(u.display_name).Bytes(u.email).Bytes(u.password_hash).Bytes(u.avatar_url)
                    .Int(u.created_at).Bool(u.disabled).Int(static_cast<std::int64_t>(u.last_seen_visibility)))
      .status();
}

}  // namespace

// ---------------------------------------------------------------- users

Result<User> PgStore::CreateUser(User user) {
  Status s = Tx([&](Conn& c) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(Rows id, c.Exec("SELECT nextval('user_ids')"));
    user.id = id.Uint(0, 0);
    return c.Exec("INSERT INTO users (id, username, display_name, email, password_hash, avatar_url, created_at, "
                  "disabled, last_seen_visibility) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                  Params().Uint(user.id).Text(user.username).Bytes(user.display_name).Bytes(user.email)
                      .Bytes(user.password_hash).Bytes(user.avatar_url).Int(user.created_at).Bool(user.disabled)
                      .Int(static_cast<std::int64_t>(user.last_seen_visibility)))
        .status();
  });
  // Usernames are unique: the key decides between concurrent registrations, here or elsewhere.
  if (s.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("username '" + user.username + "' is taken");
  LIBCHAT_RETURN_IF_ERROR(s);
  return user;
}

Result<User> PgStore::GetUser(UserId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kUserCols + " FROM users WHERE id = $1", Params().Uint(id)));
  if (r.empty()) return Status::NotFound("user " + std::to_string(id));
  return UserAt(r, 0);
}

Result<User> PgStore::FindUserByName(std::string_view username) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kUserCols + " FROM users WHERE username = $1",
                                         Params().Text(username)));
  if (r.empty()) return Status::NotFound("user '" + std::string(username) + "'");
  return UserAt(r, 0);
}

Status PgStore::UpdateUser(UserId id, const std::function<Status(User*)>& edit) {
  return Tx([&](Conn& c) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(User current, LockedUser(c, id));
    User updated = current;
    LIBCHAT_RETURN_IF_ERROR(edit(&updated));
    if (updated.id != current.id || updated.username != current.username) {
      return Status::InvalidArgument("a user's id and username cannot change");
    }
    if (updated.password_hash != current.password_hash || updated.disabled != current.disabled) {
      return Status::InvalidArgument("passwords and disabling change through ChangeCredentials");
    }
    return WriteUser(c, updated);
  });
}

Result<std::vector<User>> PgStore::ListUsers(UserId after, std::size_t limit) {
  std::vector<User> out;
  if (CheckFits(after, "user id").ok() == false) return out;
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kUserCols + " FROM users WHERE id > $1 ORDER BY id LIMIT $2",
                                         Params().Uint(after).Int(LimitOf(limit))));
  for (int i = 0; i < r.size(); ++i) out.push_back(UserAt(r, i));
  return out;
}

Result<CredentialChangeResult> PgStore::ChangeCredentials(const CredentialChange& change) {
  CredentialChangeResult result;
  Status s = Tx([&](Conn& c) -> Status {
    result = CredentialChangeResult{};
    LIBCHAT_ASSIGN_OR_RETURN(User user, LockedUser(c, change.user));
    if (!change.expected_password_hash.empty() && user.password_hash != change.expected_password_hash) {
      return Status::Unauthenticated("the password changed meanwhile");
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows ban, c.Exec("SELECT 1 FROM bans WHERE user_id = $1", Params().Uint(user.id)));
    const bool banned = !ban.empty();
    if (change.keep_only_if_live && (user.disabled || banned)) {
      return Status::PermissionDenied("account '" + user.username + "' is " + (banned ? "banned" : "disabled"));
    }
    if (change.lift_ban) {
      if (!banned) return Status::NotFound("user " + std::to_string(user.id) + " is not banned");
      LIBCHAT_RETURN_IF_ERROR(c.Exec("DELETE FROM bans WHERE user_id = $1", Params().Uint(user.id)).status());
    }
    if (change.ban) {
      LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO bans (user_id, at, reason) VALUES ($1, $2, $3) ON CONFLICT (user_id) "
                                     "DO UPDATE SET at = EXCLUDED.at, reason = EXCLUDED.reason",
                                     Params().Uint(user.id).Int(change.ban->at).Bytes(change.ban->reason))
                                  .status());
    }
    if (change.disabled) {
      if (!*change.disabled && change.refuse_if_banned && banned && !change.lift_ban) {
        return Status::FailedPrecondition("account '" + user.username + "' is banned; unban it to let it log in again");
      }
      user.disabled = *change.disabled;
    }
    if (change.new_password_hash) user.password_hash = *change.new_password_hash;
    LIBCHAT_RETURN_IF_ERROR(WriteUser(c, user));
    LIBCHAT_ASSIGN_OR_RETURN(Rows devices, c.Exec(std::string("SELECT ") + kDeviceCols +
                                                      " FROM devices WHERE user_id = $1 ORDER BY id FOR UPDATE",
                                                  Params().Uint(user.id)));
    bool kept_found = change.keep_device == 0;
    for (int i = 0; i < devices.size(); ++i) {
      const Device d = DeviceAt(devices, i);
      if (d.id == change.keep_device) {
        kept_found = true;
        if (change.keep_only_if_live && d.token_hash.empty()) {
          return Status::FailedPrecondition("device " + std::to_string(d.id) + " has no live session");
        }
        Device kept = d;
        kept.token_hash = change.keep_token_hash;
        kept.token_expires_at = change.keep_token_expires_at;
        LIBCHAT_RETURN_IF_ERROR(c.Exec(kUpdateDevice, DeviceParams(kept)).status());
        result.kept = kept;
        continue;
      }
      switch (change.others) {
        case CredentialChange::Others::kKeep:
          continue;
        case CredentialChange::Others::kForgetTokens:
          result.others.push_back(d.id);
          if (d.token_hash.empty()) continue;
          LIBCHAT_RETURN_IF_ERROR(c.Exec("UPDATE devices SET token_hash = NULL WHERE id = $1", Params().Uint(d.id)).status());
          continue;
        case CredentialChange::Others::kRemove:
          result.others.push_back(d.id);
          LIBCHAT_RETURN_IF_ERROR(RemoveDeviceIn(c, d.id));
          continue;
      }
    }
    if (!kept_found) return Status::NotFound("device " + std::to_string(change.keep_device) + " is not the user's");
    result.user = std::move(user);
    return Status::Ok();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  return result;
}

// ---------------------------------------------------------------- devices

Result<Device> PgStore::AddDevice(Device device, std::size_t max_devices, std::string_view verified_password_hash) {
  Status s = Tx([&](Conn& c) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(User user, LockedUser(c, device.user));
    // The login's password check ran before this lock: refuse if what it checked no longer holds.
    if (user.disabled) return Status::PermissionDenied("account '" + user.username + "' is disabled");
    if (!verified_password_hash.empty() && user.password_hash != verified_password_hash) {
      return Status::Unauthenticated("the password changed meanwhile");
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows n, c.Exec("SELECT count(*) FROM devices WHERE user_id = $1", Params().Uint(device.user)));
    const std::uint64_t count = n.Uint(0, 0);
    if (count >= max_devices) {
      return Status::FailedPrecondition("device limit reached: user " + std::to_string(device.user) +
                                        " already has " + std::to_string(count) + " of " +
                                        std::to_string(max_devices) + " devices");
    }
    LIBCHAT_ASSIGN_OR_RETURN(Rows id, c.Exec("SELECT nextval('device_ids')"));
    device.id = id.Uint(0, 0);
    return c.Exec(kInsertDevice, DeviceParams(device)).status();
  });
  LIBCHAT_RETURN_IF_ERROR(s);
  return device;
}

Result<Device> PgStore::GetDevice(DeviceId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kDeviceCols + " FROM devices WHERE id = $1", Params().Uint(id)));
  if (r.empty()) return Status::NotFound("device " + std::to_string(id));
  return DeviceAt(r, 0);
}

Result<std::vector<Device>> PgStore::ListDevices(UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kDeviceCols + " FROM devices WHERE user_id = $1 ORDER BY id",
                                         Params().Uint(user)));
  std::vector<Device> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(DeviceAt(r, i));
  return out;
}

Status PgStore::UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) {
  return Tx([&](Conn& c) -> Status {
    // The device's row lock orders this with ChangeCredentials, which locks every device of the user
    // before it replaces or forgets a token: the edit applies to the current record.
    LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(std::string("SELECT ") + kDeviceCols + " FROM devices WHERE id = $1 FOR UPDATE",
                                            Params().Uint(id)));
    if (r.empty()) return Status::NotFound("device " + std::to_string(id));
    const Device current = DeviceAt(r, 0);
    Device updated = current;
    LIBCHAT_RETURN_IF_ERROR(edit(&updated));
    if (updated.id != current.id || updated.user != current.user || updated.token_hash != current.token_hash) {
      return Status::InvalidArgument("a device's id, user and token change only through ChangeCredentials");
    }
    // The token is not written at all: a stale copy can never bring one back.
    return c.Exec("UPDATE devices SET kind = $2, name = $3, push_provider = $4, push_token = $5, "
                  "token_expires_at = $6, created_at = $7, last_seen = $8 WHERE id = $1",
                  Params().Uint(id).Bytes(updated.kind).Bytes(updated.name).Bytes(updated.push_provider)
                      .Bytes(updated.push_token).Int(updated.token_expires_at).Int(updated.created_at)
                      .Int(updated.last_seen))
        .status();
  });
}

Result<Device> PgStore::FindDeviceByTokenHash(std::string_view token_hash) {
  if (token_hash.empty()) return Status::NotFound("empty token");
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kDeviceCols + " FROM devices WHERE token_hash = $1",
                                         Params().Text(token_hash)));
  if (r.empty()) return Status::NotFound("token");
  return DeviceAt(r, 0);
}

Status PgStore::RemoveDeviceIn(Conn& c, DeviceId id) {
  // The device row goes first: an acknowledgement holding it (FOR SHARE) finishes before this and its
  // cursor is deleted below; one after this finds no device and writes no cursor.
  LIBCHAT_ASSIGN_OR_RETURN(Rows gone, c.Exec("DELETE FROM devices WHERE id = $1 RETURNING id", Params().Uint(id)));
  if (gone.empty()) return Status::NotFound("device " + std::to_string(id));
  return c.Exec("DELETE FROM device_cursors WHERE device_id = $1", Params().Uint(id)).status();
}

Status PgStore::RemoveDevice(DeviceId id) {
  LIBCHAT_ASSIGN_OR_RETURN(Device found, GetDevice(id));
  return Tx([&](Conn& c) -> Status {
    // Under the user's lock, like AddDevice and ChangeCredentials.
    LIBCHAT_RETURN_IF_ERROR(LockedUser(c, found.user).status());
    return RemoveDeviceIn(c, id);
  });
}

Status PgStore::TouchDevice(DeviceId device, TimeMs when) {
  // Written without waiting for the WAL flush: a lost "last seen" only makes a device look idler.
  return Tx(
      [&](Conn& c) -> Status {
        LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec("UPDATE devices SET last_seen = GREATEST(last_seen, $2) WHERE id = $1 "
                                                "RETURNING id",
                                                Params().Uint(device).Int(when)));
        if (r.empty()) return Status::NotFound("device " + std::to_string(device));
        return Status::Ok();
      },
      /*async_commit=*/true);
}

}  // namespace chat::pg
