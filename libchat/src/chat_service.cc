// ChatService: construction, the events it publishes, shared checks, retention and attachments. The
// other operations are in service_*.cc (see chat_service_impl.h).
#include <algorithm>

#include "chat_service_impl.h"
#include "validate.h"

namespace chat {

ChatService::ChatService(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus)
    : options_(std::move(options)), store_(std::move(store)), bus_(std::move(bus)) {}

const ServiceOptions& ChatService::options() const { return options_; }
Store& ChatService::store() { return *store_; }
Bus& ChatService::bus() { return *bus_; }

namespace detail {

ChatServiceImpl::ChatServiceImpl(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus,
                                 std::shared_ptr<BlobStore> blobs)
    : ChatService(std::move(options), std::move(store), std::move(bus)),
      attachments_(options_, *store_, std::move(blobs)) {
  // Sessions ended on another node (a multi-node bus) end here too: forget what we know of them.
  // Our own revocations arrive here as well, after we already forgot (harmless).
  subscription_ = bus_->Subscribe([this](const std::shared_ptr<const Event>& e) {
    if (e->type == EventType::kSessionRevoked) access_.Invalidate(e->user, e->device);
  });
}

ChatServiceImpl::~ChatServiceImpl() { subscription_.Reset(); }

// ------------------------------------------------------------------ shared checks

Status ChatServiceImpl::UserExists(UserId u) {
  auto user = store_->GetUser(u);
  if (user.ok()) return Status::Ok();
  if (user.error().IsNotFound()) return Status::NotFound("user " + std::to_string(u) + " does not exist");
  return user.error();
}

Result<MemberList> ChatServiceImpl::RequireMember(ChatId chat, UserId user) {
  auto members = store_->Members(chat);
  if (!members.ok()) return members.error().IsNotFound() ? NotMember(chat) : members.error();
  if (!std::binary_search((*members)->begin(), (*members)->end(), user)) return NotMember(chat);
  return members;
}

Status ChatServiceImpl::CheckPassword(const std::string& password) const {
  const Limits& l = options_.limits;
  if (password.size() < l.min_password_bytes || password.size() > l.max_password_bytes) {
    return Status::InvalidArgument("password must be " + std::to_string(l.min_password_bytes) + " to " +
                                   std::to_string(l.max_password_bytes) + " bytes");
  }
  return Status::Ok();
}

Status ChatServiceImpl::CheckDeviceInfo(const DeviceInfo& info) {
  LIBCHAT_RETURN_IF_ERROR(CheckText("device.kind", info.kind, 32));
  return CheckText("device.name", info.name, 64);
}

// ------------------------------------------------------------------ events

void ChatServiceImpl::PublishEntry(EventType type, const CommittedEntry& c) {
  auto e = std::make_shared<Event>();
  e->type = type;
  e->chat = c.entry.chat;
  if (type == EventType::kChatUpdate && c.previous_members != c.members) {
    // A membership change reaches those it removed as well: they learn they are out.
    std::set_union(c.previous_members->begin(), c.previous_members->end(), c.members->begin(), c.members->end(),
                   std::back_inserter(e->recipients));
  } else {
    e->recipients = *c.members;
  }
  e->message = std::make_shared<const Message>(c.entry);
  bus_->Publish(std::move(e));
}

CommitObserver ChatServiceImpl::EntryObserver(EventType type) {
  return [this, type](const CommittedEntry& c) { PublishEntry(type, c); };
}

void ChatServiceImpl::PublishRevoked(UserId user, DeviceId device, const std::string& keep_token_hash) {
  // Before the event: a check starting after this call returns must not find the old answer cached.
  access_.Invalidate(user, device);
  auto e = std::make_shared<Event>();
  e->type = EventType::kSessionRevoked;
  e->recipients = {user};
  e->only_device = device;
  e->user = user;
  e->device = device;
  e->keep_token_hash = keep_token_hash;
  bus_->Publish(std::move(e));
}

// ------------------------------------------------------------------ retention

Result<RetentionReport> ChatServiceImpl::RunRetention(std::size_t max_deletes) {
  const TimeMs now = Now();
  LIBCHAT_ASSIGN_OR_RETURN(RetentionReport report, store_->SweepExpired(now, options_.device_cursor_ttl_ms, max_deletes));
  // After the messages: attachments they were the last reference of start their grace period now.
  LIBCHAT_ASSIGN_OR_RETURN(report.attachments_deleted, attachments_.Collect(now, max_deletes));
  return report;
}

Result<RetentionReport> ChatServiceImpl::PreviewRetention(std::size_t max_deletes) {
  return store_->CountExpired(Now(), options_.device_cursor_ttl_ms, max_deletes);
}

// ------------------------------------------------------------------ attachments

Result<UploadTicket> ChatServiceImpl::CreateAttachment(UserId user, const NewAttachment& request) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kUpload, user, 0, 1));
  return attachments_.Create(user, request);
}

Result<std::unique_ptr<AttachmentUpload>> ChatServiceImpl::BeginUpload(UserId user, const std::string& id) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  return attachments_.BeginUpload(user, id);
}

Result<AttachmentDownload> ChatServiceImpl::OpenAttachment(UserId user, const std::string& id) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  return attachments_.Open(user, id);
}

}  // namespace detail

Result<std::unique_ptr<ChatService>> ChatService::Create(ServiceOptions options, std::shared_ptr<Store> store,
                                                         std::shared_ptr<Bus> bus, std::shared_ptr<BlobStore> blobs) {
  if (!store) return Status::InvalidArgument("ChatService::Create: null store");
  if (!bus) return Status::InvalidArgument("ChatService::Create: null bus");
  if (options.clock == nullptr) options.clock = SystemClock();
  auto service =
      std::make_unique<detail::ChatServiceImpl>(std::move(options), std::move(store), std::move(bus), std::move(blobs));
  // Flags raised before a restart keep their scores (and suspensions).
  LIBCHAT_RETURN_IF_ERROR(service->RestoreSpam());
  LIBCHAT_RETURN_IF_ERROR(service->ShareState());
  return std::unique_ptr<ChatService>(std::move(service));
}

}  // namespace chat
