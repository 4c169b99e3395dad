#include "pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "libchat/plugins/postgres_store.h"
#include "throwaway_server.h"

namespace chat::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string BinDir() {
  const char* env = std::getenv("LIBCHAT_TEST_PG_BIN");
  return env != nullptr ? env : "/usr/lib/postgresql/15/bin";
}

// The account PostgreSQL runs as: ourselves, or `postgres` when we are root (it refuses root).
struct Account {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Account PostgresAccount() {
  Account a;
  if (::geteuid() != 0) return a;
  if (const passwd* pw = ::getpwnam("postgres")) {
    a.switch_user = true;
    a.uid = pw->pw_uid;
    a.gid = pw->pw_gid;
  }
  return a;
}

// Runs argv to completion as the PostgreSQL account, output appended to `log`. The exit code.
int Run(const std::vector<std::string>& argv, const std::string& log) {
  const Account account = PostgresAccount();
  const pid_t child = ::fork();
  if (child == 0) {
    // The account first: the log is then the server's own to append to later (pg_ctl -l).
    if (account.switch_user && (::setgid(account.gid) != 0 || ::setuid(account.uid) != 0)) _exit(126);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  if (child < 0) return -1;
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool IsPostgres(pid_t pid) { return ProcessName(pid).rfind("postgres", 0) == 0; }

// The server processes whose parent is `pid` (backends, walsender, checkpointer, ...).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid) out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

Status Chown(const std::string& path) {
  const Account a = PostgresAccount();
  if (!a.switch_user) return Status::Ok();
  if (::chown(path.c_str(), a.uid, a.gid) != 0) return Status::Unavailable("chown " + path);
  return Status::Ok();
}

Result<std::string> MakeDir() {
  std::string templ = (fs::temp_directory_path() / "libchat-pg-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return Status::Unavailable("mkdtemp");
  // mkdtemp makes it 0700; the server's account must own it to traverse and write it.
  LIBCHAT_RETURN_IF_ERROR(Chown(templ));
  fs::create_directory(templ + "/socket");
  LIBCHAT_RETURN_IF_ERROR(Chown(templ + "/socket"));
  return templ;
}


std::atomic<int> database_counter{0};

}  // namespace

Result<std::unique_ptr<PgCluster>> PgCluster::Start(const Options& options) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->options_ = options;
  LIBCHAT_ASSIGN_OR_RETURN(c->dir_, MakeDir());
  const std::string log = c->dir_ + "/log";
  if (Run({BinDir() + "/initdb", "-D", c->dir_ + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8",
           "--locale=C", "-N"},
          log) != 0) {
    return Status::Unavailable("initdb failed: " + FileTail(log));
  }
  LIBCHAT_RETURN_IF_ERROR(c->StartServer());
  return c;
}

Result<std::unique_ptr<PgCluster>> PgCluster::StartStandby(const PgCluster& primary, const std::string& name,
                                                           const Options& options) {
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->options_ = options;
  LIBCHAT_ASSIGN_OR_RETURN(c->dir_, MakeDir());
  const std::string log = c->dir_ + "/log";
  if (Run({BinDir() + "/pg_basebackup", "-h", "127.0.0.1", "-p", std::to_string(primary.port()), "-U", "postgres", "-D",
           c->dir_ + "/data", "-X", "stream", "-R", "--checkpoint=fast"},
          log) != 0) {
    return Status::Unavailable("pg_basebackup failed: " + FileTail(log));
  }
  // Reports to the primary under `name`, which synchronous_standby_names refers to.
  c->extra_.push_back("primary_conninfo=host=127.0.0.1 port=" + std::to_string(primary.port()) +
                      " user=postgres application_name=" + name);
  LIBCHAT_RETURN_IF_ERROR(c->StartServer());
  return c;
}

Status PgCluster::StartServer() {
  const std::string log = dir_ + "/log";
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = FreeLoopbackPort();
    std::string opts = "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_) +
                       " -c unix_socket_directories=" + dir_ + "/socket -c max_connections=200 -c shared_buffers=32MB";
    if (!options_.durable) opts += " -c fsync=off -c full_page_writes=off -c synchronous_commit=on";
    for (const auto& s : options_.settings) opts += " -c " + s;
    for (const auto& s : extra_) opts += " -c '" + s + "'";
    const int rc = Run({BinDir() + "/pg_ctl", "start", "-w", "-t", "60", "-D", dir_ + "/data", "-l", log, "-o", opts},
                       dir_ + "/pg_ctl.log");
    if (rc == 0) {
      std::ifstream pidfile(dir_ + "/data/postmaster.pid");
      pidfile >> pid_;
      if (pid_ > 0 && IsPostgres(pid_)) return Status::Ok();
    }
  }
  return Status::Unavailable("PostgreSQL did not start: " + FileTail(dir_ + "/pg_ctl.log") + FileTail(log));
}

Result<std::unique_ptr<PgCluster>> PgCluster::Attach(const std::string& state_file) {
  std::ifstream in(state_file);
  std::unique_ptr<PgCluster> c(new PgCluster());
  c->owned_ = false;
  if (!(in >> c->port_ >> c->pid_ >> c->dir_)) return Status::NotFound("no PostgreSQL state in " + state_file);
  return c;
}

Status PgCluster::WriteState(const std::string& state_file) const {
  std::ofstream out(state_file + ".tmp", std::ios::trunc);
  out << port_ << " " << pid_ << " " << dir_ << "\n";
  out.close();
  if (!out) return Status::Unavailable("cannot write " + state_file);
  fs::rename(state_file + ".tmp", state_file);
  return Status::Ok();
}

PgCluster::~PgCluster() {
  if (!owned_) return;
  Stop();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void PgCluster::Stop() {
  if (pid_ <= 0) return;
  if (!ProcessGone(pid_) && IsPostgres(pid_)) {
    ::kill(pid_, SIGINT);  // Fast shutdown: sessions are ended, nothing waits for clients.
    if (!WaitProcessGone(pid_, 30s) && IsPostgres(pid_)) {
      ::kill(pid_, SIGKILL);
      WaitProcessGone(pid_, 10s);
    }
  }
  pid_ = -1;
}

void PgCluster::Kill9() {
  if (pid_ <= 0 || ProcessGone(pid_) || !IsPostgres(pid_)) return;
  const std::vector<pid_t> children = ChildrenOf(pid_);
  ::kill(pid_, SIGKILL);
  // As in a machine crash, the whole server goes at once: its backends too, not on their own time.
  for (pid_t child : children) {
    if (IsPostgres(child)) ::kill(child, SIGKILL);
  }
  WaitProcessGone(pid_, 10s);
  for (pid_t child : children) WaitProcessGone(child, 10s);
  pid_ = -1;
}

Status PgCluster::Restart() {
  Stop();
  std::error_code ec;
  fs::remove(dir_ + "/data/postmaster.pid", ec);
  return StartServer();
}

Status PgCluster::Promote() {
  LIBCHAT_RETURN_IF_ERROR(Sql("SELECT pg_promote(true, 60)").status());
  for (int i = 0; i < 600; ++i) {
    auto in_recovery = Sql("SELECT pg_is_in_recovery()::text");
    if (in_recovery.ok() && *in_recovery == "false") return Status::Ok();
    std::this_thread::sleep_for(50ms);
  }
  return Status::Unavailable("the standby did not leave recovery");
}

std::string PgCluster::Uri(const std::string& db) const {
  return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string PgCluster::Conninfo(const std::string& db) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + db + " connect_timeout=5";
}

Result<std::string> PgCluster::Sql(const std::string& sql, const std::string& db) const {
  PGconn* conn = PQconnectdb(Conninfo(db).c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn);
    PQfinish(conn);
    return Status::Unavailable("connect: " + msg);
  }
  PGresult* res = PQexec(conn, sql.c_str());
  const ExecStatusType st = PQresultStatus(res);
  std::string out;
  Status s;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    s = Status::Internal(sql.substr(0, 80) + ": " + PQresultErrorMessage(res));
  } else if (PQntuples(res) > 0 && PQnfields(res) > 0) {
    out = PQgetvalue(res, 0, 0);
  }
  PQclear(res);
  PQfinish(conn);
  if (!s.ok()) return s;
  return out;
}

Result<std::string> PgCluster::NewDatabase(bool with_schema) {
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(database_counter++);
  if (!with_schema) {
    LIBCHAT_RETURN_IF_ERROR(Sql("CREATE DATABASE " + name).status());
    return name;
  }
  if (!template_ready_) {
    // Made once per server: by whichever test process gets the lock first.
    PGconn* lock = PQconnectdb(Conninfo("postgres").c_str());
    if (PQstatus(lock) != CONNECTION_OK) {
      PQfinish(lock);
      return Status::Unavailable("connect for the template lock");
    }
    PQclear(PQexec(lock, "SELECT pg_advisory_lock(7262011)"));
    Status made = [&]() -> Status {
      auto exists = Sql("SELECT count(*)::text FROM pg_database WHERE datname = 'libchat_tpl'");
      if (!exists.ok()) return exists.error();
      if (*exists == "1") return Status::Ok();
      LIBCHAT_RETURN_IF_ERROR(Sql("CREATE DATABASE libchat_tpl_new").status());
      LIBCHAT_RETURN_IF_ERROR(PostgresMigrate(Conninfo("libchat_tpl_new"), kPostgresSchemaVersion).status());
      // Renamed only once complete: a template is never half made.
      return Sql("ALTER DATABASE libchat_tpl_new RENAME TO libchat_tpl").status();
    }();
    PQclear(PQexec(lock, "SELECT pg_advisory_unlock(7262011)"));
    PQfinish(lock);
    LIBCHAT_RETURN_IF_ERROR(made);
    template_ready_ = true;
  }
  LIBCHAT_RETURN_IF_ERROR(Sql("CREATE DATABASE " + name + " TEMPLATE libchat_tpl").status());
  return name;
}

Status PgCluster::DropDatabase(const std::string& db) {
  return Sql("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)").status();
}

}  // namespace chat::test
