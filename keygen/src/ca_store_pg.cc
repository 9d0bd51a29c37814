#include "ca_store_pg.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <thread>
#include <utility>

#include "issuance_log.h"
#include "output.h"
#include "tessera/key/cert.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/format.h"

namespace tessera::keygen {
namespace {

// Attempts at one batch (or revocation, or import) when PostgreSQL reports a
// serialization failure or a deadlock: each retry reserves and signs anew.
constexpr int kMaxAttempts = 5;
// How long a connection attempt may take unless the connection string says.
constexpr const char* kDefaultConnectTimeoutSeconds = "10";
// Serials are numeric(20,0): 0 .. 2^64-1; the counter may reach 2^64 (spent).
constexpr std::string_view kSerialSpaceEnd = "18446744073709551616";
// Taken while the schema is created or migrated, so that runs starting at
// once on a new database do not race ("tsra" "ca").
constexpr const char* kSchemaLockKey = "7310300263";

// Version 1 of the schema. Serials and validity are numeric(20,0) because
// they are unsigned 64-bit and bigint is signed.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE tessera_schema_version (version integer NOT NULL);
INSERT INTO tessera_schema_version VALUES (1);
CREATE TABLE tessera_ca (
  fingerprint text PRIMARY KEY,                -- SHA256:... of the CA public key
  public_key text,                             -- its key line (NULL if only imported records name it)
  next_serial numeric(20,0) NOT NULL DEFAULT 1 -- the next serial free to issue; 2^64: none left
    CHECK (next_serial >= 1 AND next_serial <= 18446744073709551616),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tessera_issued (
  id bigserial PRIMARY KEY,
  ca_fingerprint text NOT NULL REFERENCES tessera_ca (fingerprint),
  serial numeric(20,0) NOT NULL CHECK (serial >= 0 AND serial <= 18446744073709551615),
  key_id text NOT NULL,
  principals text[] NOT NULL,
  cert_type text CHECK (cert_type IN ('user', 'host')),
  valid_after numeric(20,0),
  valid_before numeric(20,0),
  key_fingerprint text,                        -- SHA256:... of the certified key
  certificate_fingerprint text,                -- SHA256:... of the certificate blob (NULL if imported)
  certificate_path text,
  issuing_host text,
  issued_at timestamptz NOT NULL,
  imported boolean NOT NULL DEFAULT false      -- moved in by --import-log from a file store
);
-- A serial the database hands out is unique per CA. Imported records keep
-- the history of the file store as it was (a log of -z runs may repeat one).
CREATE UNIQUE INDEX tessera_issued_serial ON tessera_issued (ca_fingerprint, serial) WHERE NOT imported;
CREATE INDEX tessera_issued_lookup ON tessera_issued (ca_fingerprint, serial);
CREATE INDEX tessera_issued_key_id ON tessera_issued (ca_fingerprint, key_id);
CREATE TABLE tessera_revoked (
  id bigserial PRIMARY KEY,
  ca_fingerprint text NOT NULL REFERENCES tessera_ca (fingerprint),
  kind text NOT NULL CHECK (kind IN ('serial', 'key_id', 'key', 'sha256')),
  serial numeric(20,0) CHECK (serial >= 0 AND serial <= 18446744073709551615),
  value text,                                  -- key ID, key line or SHA256:... fingerprint
  revoked_by text NOT NULL,
  reason text NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((kind = 'serial') = (serial IS NOT NULL) AND (kind = 'serial') = (value IS NULL))
);
CREATE INDEX tessera_revoked_ca ON tessera_revoked (ca_fingerprint);
)sql";

// Migrations from version N to N+1 go here, index N-1 (none yet).
constexpr const char* kMigrations[] = {nullptr};

key::Error store_error(std::string message) { return fatal_failure(std::move(message)); }

// libpq's message on one line.
std::string trimmed(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (size_t nl; (nl = s.find("\n\t")) != std::string::npos || (nl = s.find('\n')) != std::string::npos;) {
    s.replace(nl, s[nl + 1] == '\t' ? 2 : 1, " ");
  }
  return s;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// The result of one statement, cleared on destruction.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  PgResult(PgResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  PgResult& operator=(PgResult&&) = delete;
  PgResult(const PgResult&) = delete;
  ~PgResult() { PQclear(r_); }
  PGresult* get() const { return r_; }
  int rows() const { return PQntuples(r_); }
  std::string value(int row, int column) const { return PQgetvalue(r_, row, column); }
  bool is_null(int row, int column) const { return PQgetisnull(r_, row, column) != 0; }

 private:
  PGresult* r_;
};

// Why a statement failed, and whether trying the transaction again may help.
struct PgFailure {
  std::string message;
  bool retry = false;          // serialization failure or deadlock
  bool connection_lost = false;
};

class PgConnection {
 public:
  static key::Result<PgConnection> connect(const std::string& conninfo) {
    // Ours first, then the user's string (its settings win), then the
    // encoding every text column is kept in.
    const char* keywords[] = {"connect_timeout", "application_name", "dbname", "client_encoding", nullptr};
    const char* values[] = {kDefaultConnectTimeoutSeconds, "tessera-keygen", conninfo.c_str(), "UTF8", nullptr};
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &parse_error);
    if (parsed == nullptr) {
      std::string why = parse_error != nullptr ? trimmed(parse_error) : "out of memory";
      PQfreemem(parse_error);
      return store_error("tessera-keygen: --ca-store: not a PostgreSQL connection string: " + why);
    }
    PQconninfoFree(parsed);
    PGconn* conn = PQconnectdbParams(keywords, values, 1);
    if (conn == nullptr) return store_error("tessera-keygen: --ca-store: out of memory");
    PgConnection c(conn);
    if (PQstatus(conn) != CONNECTION_OK) {
      return store_error("tessera-keygen: cannot connect to the CA database " + c.describe() + ": " +
                         trimmed(PQerrorMessage(conn)) +
                         "; nothing was issued (check that the server runs and the --ca-store connection string)");
    }
    // CREATE ... IF NOT EXISTS and the like say NOTICEs: not for the user.
    PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
    // Every transaction of the session at read committed, whatever the
    // server's default: row locks (the counter, the CA's row) and the schema
    // lock then order concurrent runs, each statement seeing what the run
    // before it committed, where a serializable default would fail them.
    if (auto [r, f] = c.exec("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"); !r) {
      return store_error("tessera-keygen: the CA database " + c.describe() + " refused setting up the session: " +
                         f.message + "; nothing was issued");
    }
    return c;
  }

  PgConnection(PgConnection&& o) noexcept : conn_(std::exchange(o.conn_, nullptr)) {}
  PgConnection& operator=(PgConnection&&) = delete;
  PgConnection(const PgConnection&) = delete;
  ~PgConnection() { PQfinish(conn_); }

  // "database D on host:port as user U" (never the password).
  std::string describe() const {
    auto text = [](const char* s) { return std::string(s != nullptr ? s : ""); };
    std::string host = text(PQhost(conn_));
    return "\"" + text(PQdb(conn_)) + "\" on " + (host.empty() ? "the local socket" : host) + ":" +
           text(PQport(conn_)) + " as " + text(PQuser(conn_));
  }

  bool lost() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Runs one statement with text parameters; nullopt-free: the failure says why.
  std::pair<std::optional<PgResult>, PgFailure> exec(const std::string& sql,
                                                     const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    return checked(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                nullptr, nullptr, 0));
  }

  // Runs several statements without parameters (the schema).
  std::pair<std::optional<PgResult>, PgFailure> exec_script(const char* sql) { return checked(PQexec(conn_, sql)); }

  void rollback() {
    if (!lost()) PgResult(PQexec(conn_, "ROLLBACK"));
  }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}

  std::pair<std::optional<PgResult>, PgFailure> checked(PGresult* result) {
    PgResult r(result);
    ExecStatusType status = r.get() != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      return {std::optional<PgResult>(std::move(r)), PgFailure{}};
    }
    PgFailure failure;
    const char* state = r.get() != nullptr ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state != nullptr ? state : "";
    failure.retry = sqlstate == "40001" || sqlstate == "40P01";
    failure.connection_lost = lost() || sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
                              sqlstate == "57P03";
    // The primary message alone ("relation ... does not exist"), without
    // the "ERROR:" prefix and the statement excerpt.
    const char* primary = r.get() != nullptr ? PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    failure.message = trimmed(primary != nullptr ? primary : PQerrorMessage(conn_));
    if (failure.message.empty()) failure.message = trimmed(PQerrorMessage(conn_));
    if (!sqlstate.empty()) failure.message += " (SQLSTATE " + sqlstate + ")";
    return {std::nullopt, std::move(failure)};
  }

  PGconn* conn_;
};

// The error for a failed statement: `doing` says what the run was doing,
// `consequence` what it means for the user.
key::Error failed(PgConnection& db, const PgFailure& f, const std::string& doing, const std::string& consequence) {
  if (f.connection_lost) {
    return store_error("tessera-keygen: lost the connection to the CA database " + db.describe() + " while " + doing +
                       ": " + f.message + "; " + consequence);
  }
  return store_error("tessera-keygen: the CA database " + db.describe() + " refused " + doing + ": " + f.message +
                     "; " + consequence);
}

// The schema version of the database (0: no tessera tables yet).
std::optional<PgFailure> read_schema_version(PgConnection& db, int& version) {
  version = 0;
  auto [exists, f] = db.exec("SELECT to_regclass('tessera_schema_version') IS NOT NULL");
  if (!exists) return f;
  if (exists->rows() != 1 || exists->value(0, 0) != "t") return std::nullopt;
  auto [r, rf] = db.exec("SELECT coalesce(max(version), 0) FROM tessera_schema_version");
  if (!r) return rf;
  if (r->rows() == 1) version = std::atoi(r->value(0, 0).c_str());
  return std::nullopt;
}

// Creates the schema, or migrates it to kCaStoreSchemaVersion; refuses a newer one.
key::Status prepare_schema(PgConnection& db) {
  const std::string consequence = "nothing was issued";
  int version = 0;
  if (auto failure = read_schema_version(db, version)) {
    return failed(db, *failure, "reading the schema version", consequence);
  }
  auto newer = [&](int v) {
    return store_error("tessera-keygen: the CA database " + db.describe() + " has schema version " +
                       std::to_string(v) + ", newer than this tessera-keygen knows (" +
                       std::to_string(kCaStoreSchemaVersion) +
                       "): upgrade tessera-keygen on this host; nothing was issued or changed");
  };
  if (version > kCaStoreSchemaVersion) return newer(version);
  if (version == kCaStoreSchemaVersion) return {};
  // Create or migrate under a lock, checking again inside it. The lock is
  // the session's, taken before the transaction begins: a transaction that
  // began before another run's tables were committed would go on finding
  // them missing (the backend's catalog cache is refreshed as a transaction
  // begins, not when an advisory lock is granted).
  const std::string doing = version == 0 ? "creating its tables" : "migrating its tables";
  if (auto [r, f] = db.exec(std::string("SELECT pg_advisory_lock(") + kSchemaLockKey + ")"); !r) {
    return failed(db, f, doing, consequence);
  }
  struct Unlock {
    PgConnection& db;
    ~Unlock() {
      if (!db.lost()) db.exec(std::string("SELECT pg_advisory_unlock(") + kSchemaLockKey + ")");
    }
  } unlock{db};
  for (int attempt = 1;; ++attempt) {
    auto step = [&]() -> std::optional<PgFailure> {
      if (auto [r, f] = db.exec("BEGIN"); !r) return f;
      int current = 0;
      if (auto failure = read_schema_version(db, current)) return failure;
      if (current > kCaStoreSchemaVersion) {
        version = current;
        return std::nullopt;
      }
      if (current == 0) {
        if (auto [r, f] = db.exec_script(kSchemaV1); !r) return f;
        current = 1;
      }
      for (; current < kCaStoreSchemaVersion; ++current) {
        const char* migration = kMigrations[current - 1];
        if (migration == nullptr) break;
        if (auto [r, f] = db.exec_script(migration); !r) return f;
        if (auto [r, f] = db.exec("UPDATE tessera_schema_version SET version = " + std::to_string(current + 1));
            !r) {
          return f;
        }
      }
      if (auto [r, f] = db.exec("COMMIT"); !r) return f;
      version = current;
      return std::nullopt;
    };
    std::optional<PgFailure> failure = step();
    if (!failure) break;
    db.rollback();
    if (failure->retry && attempt < kMaxAttempts) continue;
    return failed(db, *failure, doing, consequence);
  }
  if (version > kCaStoreSchemaVersion) {
    db.rollback();
    return newer(version);
  }
  return {};
}

key::Result<PgConnection> open_database(const std::string& conninfo) {
  TESSERA_ASSIGN_OR_RETURN(PgConnection db, PgConnection::connect(conninfo));
  TESSERA_TRY(prepare_schema(db));
  return db;
}

// PostgreSQL keeps text as UTF-8 without NUL: a key ID or principal that is
// not cannot go into the record.
bool storable_text(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) return false;
  return json_string(s).find("\\ufffd") == std::string::npos;
}

// A text[] literal: {"a","b"} with " and \ escaped.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

// Registers the CA (its counter starts at 1 when it is new). Returns whether it was new.
key::Result<bool> register_ca(PgConnection& db, const std::string& fingerprint, const std::string& key_line) {
  for (int attempt = 1;; ++attempt) {
    auto [r, f] = db.exec(
        "INSERT INTO tessera_ca (fingerprint, public_key) VALUES ($1, $2) ON CONFLICT (fingerprint) DO UPDATE SET "
        "public_key = COALESCE(tessera_ca.public_key, EXCLUDED.public_key) RETURNING (xmax = 0)",
        {fingerprint, key_line});
    if (r) return r->rows() == 1 && r->value(0, 0) == "t";
    if (f.retry && attempt < kMaxAttempts) continue;
    return failed(db, f, "registering CA " + fingerprint, "nothing was issued");
  }
}

constexpr const char* kCommitting = "committing the batch's records";

class PgCaStore final : public CaStore {
 public:
  PgCaStore(PgConnection db, std::string ca_fingerprint, DatabaseSerialRange range)
      : db_(std::move(db)), ca_(std::move(ca_fingerprint)), range_(range), host_(host_name()) {}

  key::Status issue(std::span<CertificateToIssue> batch, const SignBatch& sign) override {
    for (const CertificateToIssue& p : batch) {
      bool ok = storable_text(p.cert.key_id);
      for (const std::string& principal : p.cert.principals) ok = ok && storable_text(principal);
      if (!ok) {
        return store_error("tessera-keygen: --ca-store keeps key IDs and principals as text: \"" +
                           printable(p.cert.key_id) +
                           "\" or a principal is not valid UTF-8 (or holds a NUL); nothing was issued");
      }
    }
    for (int attempt = 1;; ++attempt) {
      for (CertificateToIssue& p : batch) {
        p.cert.serial = 0;
        p.cert.signature.clear();
        p.signed_ok = {};
        p.refused.reset();
      }
      PgFailure failure;
      std::string doing;
      auto outcome = attempt_batch(batch, sign, failure, doing);
      if (outcome.ok()) return {};
      if (!outcome.error().detail().empty()) {  // not a database failure
        db_.rollback();
        return outcome.error();
      }
      db_.rollback();
      if (failure.retry && attempt < kMaxAttempts) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
        continue;
      }
      // A COMMIT whose answer was lost may have committed: the records may
      // exist, the certificates do not (a record without its certificate is
      // the harmless side).
      const bool committing = doing == kCommitting;
      return failed(db_, failure, doing,
                    committing ? "its records may or may not have been committed, but no certificate of this batch "
                                 "was written: issue them again when the database is back"
                               : "no certificate of this batch was written (run again when the database is back; "
                                 "none of its serials was used)");
    }
  }

  key::Status finish() override { return {}; }

 private:
  // One try at a batch in one transaction. A database failure fills
  // `failure` and returns an error with no detail; any other error has one.
  key::Status attempt_batch(std::span<CertificateToIssue> batch, const SignBatch& sign, PgFailure& failure,
                            std::string& doing) {
    const key::Error database_failure(key::Errc::kIo);
    doing = "reserving serials";
    auto step = [&](const std::string& sql, const std::vector<std::optional<std::string>>& params = {})
        -> std::optional<PgResult> {
      auto [r, f] = db_.exec(sql, params);
      if (!r) failure = std::move(f);
      return std::move(r);
    };
    // Read committed whatever the server's default: the row lock alone
    // orders the issuers, and a waiting issuer then reads the counter its
    // predecessor committed instead of failing with a serialization error.
    if (!step("BEGIN ISOLATION LEVEL READ COMMITTED")) return database_failure;
    // The counter row stays locked until COMMIT: concurrent issuers of this
    // CA take turns, and a rollback gives the serials back.
    auto row = step("SELECT next_serial::text FROM tessera_ca WHERE fingerprint = $1 FOR UPDATE", {ca_});
    if (!row) return database_failure;
    if (row->rows() != 1) {
      return store_error("tessera-keygen: CA " + ca_ + " vanished from the CA database " + db_.describe() +
                         "; nothing was issued");
    }
    uint64_t next = 0;
    const std::string counter = row->value(0, 0);
    const bool spent = counter == kSerialSpaceEnd;
    if (!spent && !parse_u64(counter, next)) {
      return store_error("tessera-keygen: the CA database holds next serial \"" + counter + "\" for CA " + ca_ +
                         ", not a number; nothing was issued");
    }
    const uint64_t start = std::max(next, range_.first);
    if (spent || start > range_.last) {
      const std::string end = range_.last == UINT64_MAX ? "2^64-1, the last serial a certificate can carry"
                                                        : std::to_string(range_.last) + " (the end of -z)";
      return store_error("tessera-keygen: CA " + ca_ + " has no serial left: its next serial would be " +
                         (spent ? std::string(kSerialSpaceEnd) : std::to_string(start)) + ", past " + end +
                         (range_.last == UINT64_MAX ? "; nothing was issued (a new CA key starts a new serial space)"
                                                    : "; nothing was issued (give a wider -z range)"));
    }
    const uint64_t room = range_.last - start;  // serials after `start` in range
    const size_t fit = static_cast<size_t>(std::min<uint64_t>(batch.size() - 1, room)) + 1;
    // start + fit <= 2^64: written as text, since 2^64 has no uint64_t.
    const std::string new_next = (start + (fit - 1) == UINT64_MAX) ? std::string(kSerialSpaceEnd)
                                                                   : std::to_string(start + fit);
    if (!step("UPDATE tessera_ca SET next_serial = $2 WHERE fingerprint = $1", {ca_, new_next})) {
      return database_failure;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i < fit) {
        batch[i].cert.serial = start + i;
      } else {
        batch[i].refused = "tessera-keygen: CA " + ca_ + " has no serial left for " + batch[i].path +
                           ": serial " + std::to_string(start + fit - 1) + " was the last of its range; not issued";
      }
    }
    sign(batch.first(fit));
    size_t signed_count = 0;
    while (signed_count < fit && batch[signed_count].signed_ok.ok()) ++signed_count;
    if (signed_count == 0) {
      db_.rollback();
      return {};
    }
    doing = "recording the batch's certificates";
    // One INSERT for the batch.
    constexpr int kColumns = 12;
    std::string sql =
        "INSERT INTO tessera_issued (ca_fingerprint, serial, key_id, principals, cert_type, valid_after, "
        "valid_before, key_fingerprint, certificate_fingerprint, certificate_path, issuing_host, issued_at) VALUES ";
    std::vector<std::optional<std::string>> params;
    params.reserve(signed_count * kColumns);
    for (size_t i = 0; i < signed_count; ++i) {
      const key::Certificate& cert = batch[i].cert;
      if (i > 0) sql += ',';
      sql += '(';
      for (int c = 1; c <= kColumns; ++c) {
        if (c > 1) sql += ',';
        sql += '$' + std::to_string(i * kColumns + static_cast<size_t>(c));
        if (c == 4) sql += "::text[]";
        if (c == 12) sql += "::timestamptz";
      }
      sql += ')';
      const key::Bytes blob = cert.blob();
      params.insert(params.end(), {ca_, std::to_string(cert.serial), cert.key_id, text_array(cert.principals),
                                   std::string(cert.type == key::CertType::kHost ? "host" : "user"),
                                   std::to_string(cert.valid_after), std::to_string(cert.valid_before),
                                   key::fingerprint(cert.key, key::FingerprintHash::kSha256),
                                   key::fingerprint(blob, key::FingerprintHash::kSha256),
                                   certificate_path(batch[i].path), host_, std::string("now")});
    }
    if (!step(sql, params)) return database_failure;
    doing = kCommitting;
    if (!step("COMMIT")) return database_failure;
    return {};
  }

  PgConnection db_;
  std::string ca_;
  DatabaseSerialRange range_;
  std::string host_;
};

std::string_view kind_name(DatabaseRevocation::Kind kind) {
  switch (kind) {
    case DatabaseRevocation::Kind::kSerial: return "serial";
    case DatabaseRevocation::Kind::kKeyId: return "key_id";
    case DatabaseRevocation::Kind::kKey: return "key";
    case DatabaseRevocation::Kind::kSha256: return "sha256";
  }
  return "serial";
}

std::optional<DatabaseRevocation::Kind> kind_from_name(std::string_view name) {
  for (auto kind : {DatabaseRevocation::Kind::kSerial, DatabaseRevocation::Kind::kKeyId,
                    DatabaseRevocation::Kind::kKey, DatabaseRevocation::Kind::kSha256}) {
    if (kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

// Runs `body` in a transaction, retrying serialization failures; `doing` names it in errors.
template <typename T, typename Body>
key::Result<T> in_transaction(PgConnection& db, const std::string& doing, const std::string& consequence,
                              Body body) {
  for (int attempt = 1;; ++attempt) {
    PgFailure failure;
    std::optional<key::Error> refusal;
    std::optional<T> value;
    if (auto [r, f] = db.exec("BEGIN"); !r) {
      failure = std::move(f);
    } else {
      key::Result<T> result = body(failure);
      if (result.ok()) {
        if (auto [c, cf] = db.exec("COMMIT"); c) return std::move(*result);
        else failure = std::move(cf);
      } else if (!result.error().detail().empty()) {
        refusal = result.error();
      }
    }
    db.rollback();
    if (refusal) return *refusal;
    if (failure.retry && attempt < kMaxAttempts) continue;
    return failed(db, failure, doing, consequence);
  }
}

}  // namespace

key::Result<std::unique_ptr<CaStore>> open_database_ca_store(const std::string& conninfo, const key::PublicKey& ca,
                                                             DatabaseSerialRange range) {
  TESSERA_ASSIGN_OR_RETURN(PgConnection db, open_database(conninfo));
  const std::string fingerprint = key::fingerprint(ca, key::FingerprintHash::kSha256);
  TESSERA_ASSIGN_OR_RETURN(bool is_new, register_ca(db, fingerprint, key::format_public_key_line(ca, "")));
  if (is_new) {
    print_error("tessera-keygen: CA " + fingerprint + " is new in the CA database " + db.describe() +
                ": its serials start at 1 (import an earlier issuance log with --import-log first)");
  }
  return std::unique_ptr<CaStore>(std::make_unique<PgCaStore>(std::move(db), fingerprint, range));
}

key::Result<std::vector<DatabaseRevocation>> revoke_in_database(const std::string& conninfo,
                                                                const key::PublicKey& ca,
                                                                std::span<const DatabaseRevocation> requests,
                                                                const std::string& revoked_by,
                                                                const std::string& reason) {
  TESSERA_ASSIGN_OR_RETURN(PgConnection db, open_database(conninfo));
  const std::string fingerprint = key::fingerprint(ca, key::FingerprintHash::kSha256);
  for (const DatabaseRevocation& r : requests) {
    if (!storable_text(r.text)) {
      return store_error("tessera-keygen: --ca-store keeps key IDs as text: \"" + printable(r.text) +
                         "\" is not valid UTF-8 (or holds a NUL); nothing was revoked");
    }
  }
  if (!storable_text(revoked_by) || !storable_text(reason)) {
    return store_error("tessera-keygen: --revoked-by and --reason must be UTF-8 text; nothing was revoked");
  }
  TESSERA_TRY(register_ca(db, fingerprint, key::format_public_key_line(ca, "")));
  const std::string consequence = "nothing was revoked and no KRL written";
  return in_transaction<std::vector<DatabaseRevocation>>(
      db, "recording revocations", consequence,
      [&](PgFailure& failure) -> key::Result<std::vector<DatabaseRevocation>> {
        const key::Error database_failure(key::Errc::kIo);
        for (const DatabaseRevocation& r : requests) {
          const bool by_serial = r.kind == DatabaseRevocation::Kind::kSerial;
          std::optional<std::string> serial = by_serial ? std::optional(std::to_string(r.serial)) : std::nullopt;
          std::optional<std::string> value = by_serial ? std::nullopt : std::optional(r.text);
          if (by_serial) {
            auto [known, f] = db.exec("SELECT 1 FROM tessera_issued WHERE ca_fingerprint = $1 AND serial = $2",
                                      {fingerprint, serial});
            if (!known) return failure = std::move(f), database_failure;
            if (known->rows() == 0) {
              return store_error("tessera-keygen: the CA database records no certificate with serial " + *serial +
                                 " issued by CA " + fingerprint + "; nothing was revoked");
            }
          }
          auto [added, f] = db.exec(
              "INSERT INTO tessera_revoked (ca_fingerprint, kind, serial, value, revoked_by, reason) "
              "SELECT $1, $2, $3::numeric, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM tessera_revoked WHERE "
              "ca_fingerprint = $1 AND kind = $2 AND serial IS NOT DISTINCT FROM $3::numeric AND value IS NOT "
              "DISTINCT FROM $4)",
              {fingerprint, std::string(kind_name(r.kind)), serial, value, revoked_by, reason});
          if (!added) return failure = std::move(f), database_failure;
        }
        auto [all, f] = db.exec(
            "SELECT kind, serial::text, value FROM tessera_revoked WHERE ca_fingerprint = $1 ORDER BY id",
            {fingerprint});
        if (!all) return failure = std::move(f), database_failure;
        std::vector<DatabaseRevocation> out;
        for (int row = 0; row < all->rows(); ++row) {
          DatabaseRevocation r;
          auto kind = kind_from_name(all->value(row, 0));
          if (!kind || (*kind == DatabaseRevocation::Kind::kSerial && !parse_u64(all->value(row, 1), r.serial))) {
            return store_error("tessera-keygen: the CA database holds a revocation tessera-keygen cannot read (kind \"" +
                               printable(all->value(row, 0)) + "\"); no KRL written");
          }
          r.kind = *kind;
          if (!all->is_null(row, 2)) r.text = all->value(row, 2);
          out.push_back(std::move(r));
        }
        return out;
      });
}

key::Result<ImportSummary> import_into_database(const std::string& conninfo, const std::string& log_path,
                                                const std::optional<ImportedSerialState>& state) {
  auto log = read_issuance_log(log_path);
  if (!log.ok()) return store_error("tessera-keygen: " + log.error().message() + "; nothing imported");
  for (const IssuedCertificate& r : log->records) {
    bool ok = storable_text(r.key_id) && storable_text(r.ca_fingerprint);
    for (const std::string& p : r.principals) ok = ok && storable_text(p);
    if (!ok) {
      return store_error("tessera-keygen: " + log_path + ": the record of serial " + std::to_string(r.serial) +
                         " has a key ID or principal that is not UTF-8 text; nothing imported");
    }
    if (r.type && *r.type != "user" && *r.type != "host") {
      return store_error("tessera-keygen: " + log_path + ": the record of serial " + std::to_string(r.serial) +
                         " has type \"" + printable(*r.type) + "\"; nothing imported");
    }
  }
  TESSERA_ASSIGN_OR_RETURN(PgConnection db, open_database(conninfo));
  ImportSummary summary;
  summary.problems = log->problems;
  // The highest serial of each CA, and its state's next serial.
  std::map<std::string, std::string> next_of;  // fingerprint -> next serial (text: may be 2^64)
  auto raise = [&](const std::string& ca, uint64_t serial_plus_one_minus_one) {
    std::string next = serial_plus_one_minus_one == UINT64_MAX ? std::string(kSerialSpaceEnd)
                                                                : std::to_string(serial_plus_one_minus_one + 1);
    auto [it, inserted] = next_of.emplace(ca, next);
    if (!inserted) {
      auto as_number = [](const std::string& s) { return std::pair(s.size(), s); };
      if (as_number(next) > as_number(it->second)) it->second = next;
    }
  };
  for (const IssuedCertificate& r : log->records) raise(r.ca_fingerprint, r.serial);
  if (state) raise(state->ca_fingerprint, state->next_serial - 1);
  return in_transaction<ImportSummary>(
      db, "importing " + log_path, "nothing was imported", [&](PgFailure& failure) -> key::Result<ImportSummary> {
        const key::Error database_failure(key::Errc::kIo);
        ImportSummary s = summary;
        s.imported = s.already_present = 0;
        for (const auto& [ca, next] : next_of) {
          std::optional<std::string> key_line;
          if (state && state->ca_fingerprint == ca) key_line = state->ca_public_key;
          auto [r, f] = db.exec(
              "INSERT INTO tessera_ca (fingerprint, public_key, next_serial) VALUES ($1, $2, $3::numeric) "
              "ON CONFLICT (fingerprint) DO UPDATE SET next_serial = GREATEST(tessera_ca.next_serial, "
              "EXCLUDED.next_serial), public_key = COALESCE(tessera_ca.public_key, EXCLUDED.public_key)",
              {ca, key_line, next});
          if (!r) return failure = std::move(f), database_failure;
        }
        s.cas = next_of.size();
        for (const IssuedCertificate& rec : log->records) {
          auto number = [](const std::optional<uint64_t>& v) {
            return v ? std::optional(std::to_string(*v)) : std::nullopt;
          };
          auto [r, f] = db.exec(
              "INSERT INTO tessera_issued (ca_fingerprint, serial, key_id, principals, cert_type, valid_after, "
              "valid_before, key_fingerprint, certificate_path, issued_at, imported) "
              "SELECT $1, $2::numeric, $3, $4::text[], $5, $6::numeric, $7::numeric, $8, $9, "
              "COALESCE(to_timestamp($10::double precision), now()), true WHERE NOT EXISTS (SELECT 1 FROM "
              "tessera_issued WHERE ca_fingerprint = $1 AND serial = $2::numeric AND key_id = $3 AND "
              "key_fingerprint IS NOT DISTINCT FROM $8 AND (($10::double precision IS NULL AND imported) OR "
              "issued_at = to_timestamp($10::double precision)))",
              {rec.ca_fingerprint, std::to_string(rec.serial), rec.key_id, text_array(rec.principals), rec.type,
               number(rec.valid_after), number(rec.valid_before), rec.key_fingerprint, rec.certificate,
               number(rec.issued_at)});
          if (!r) return failure = std::move(f), database_failure;
          const char* affected = PQcmdTuples(r->get());
          (std::strcmp(affected, "1") == 0 ? s.imported : s.already_present)++;
        }
        return s;
      });
}

}  // namespace tessera::keygen
