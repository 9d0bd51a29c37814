// Reading and querying KRLs. The reader accepts exactly what OpenSSH's
// ssh_krl_from_blob() accepts (within tessera's key types) and keeps the
// revocations as sorted arrays of spans into the KRL bytes: serial lists
// stay lists, bitmaps stay bitmaps, and a query is a few binary searches.
#include <openssl/evp.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <utility>

#include "krl_internal.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/krl.h"

namespace tessera::key {

namespace krl_internal {
namespace {

template <typename Digest>
Digest digest_of(const EVP_MD* md, std::span<const uint8_t> data) {
  Digest out{};
  unsigned len = 0;
  // Hashing memory fails only without SHA-1/SHA-256 in the crypto library.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != out.size()) std::abort();
  return out;
}

}  // namespace

Sha1Digest sha1_of(std::span<const uint8_t> data) { return digest_of<Sha1Digest>(EVP_sha1(), data); }
Sha256Digest sha256_of(std::span<const uint8_t> data) { return digest_of<Sha256Digest>(EVP_sha256(), data); }

}  // namespace krl_internal

namespace {

using Span = std::span<const uint8_t>;

bool span_less(Span a, Span b) { return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()); }
bool span_equal(Span a, Span b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

bool sorted_contains(const std::vector<Span>& items, Span wanted) {
  auto it = std::lower_bound(items.begin(), items.end(), wanted, span_less);
  return it != items.end() && span_equal(*it, wanted);
}

template <typename T>
Result<T> in_section(Result<T> result, const std::string& where) {
  if (!result.ok()) return result.error().with_context(where);
  return result;
}

std::string section_name(size_t index) { return "KRL section " + std::to_string(index); }

// The CA key of a certificates section, validated as OpenSSH's
// sshkey_from_blob() would: a key, or (never matching any certificate's CA)
// a certificate with a valid signature.
Status check_ca_blob(Span blob) {
  auto key = PublicKey::from_blob(blob);
  if (key.ok()) return {};
  auto cert = Certificate::from_blob(blob);
  if (!cert.ok()) return key.error();
  return cert->verify_signature();
}

}  // namespace

// Builds a Krl from its bytes: the body of Krl::parse.
class KrlReader {
 public:
  KrlReader(std::shared_ptr<const Bytes> data, const KrlParseOptions& options)
      : data_(std::move(data)), options_(options) {
    krl_.data_ = data_;
  }

  Result<Krl> read() {
    const Bytes& data = *data_;
    if (data.size() > kMaxKrlBytes) {
      return Error(Errc::kTooLarge, "KRL larger than " + std::to_string(kMaxKrlBytes) + " bytes");
    }
    if (data.size() < kKrlMagic.size() || !std::equal(kKrlMagic.begin(), kKrlMagic.end(), data.begin())) {
      return Error(Errc::kMalformed, "not a KRL: the file does not start with \"SSHKRL\"");
    }
    Reader in(Span(data).subspan(kKrlMagic.size()));
    TESSERA_ASSIGN_OR_RETURN(uint32_t format, in_section(in.u32(), "KRL header"));
    if (format != kKrlFormatVersion) {
      return Error(Errc::kUnsupported, "KRL format version " + std::to_string(format) + " (only 1 is defined)");
    }
    TESSERA_ASSIGN_OR_RETURN(krl_.version_, in_section(in.u64(), "KRL header"));
    TESSERA_ASSIGN_OR_RETURN(krl_.generated_date_, in_section(in.u64(), "KRL header"));
    TESSERA_ASSIGN_OR_RETURN(krl_.flags_, in_section(in.u64(), "KRL header"));
    TESSERA_ASSIGN_OR_RETURN(auto reserved, in_section(in.string(), "KRL header reserved field"));
    (void)reserved;
    TESSERA_ASSIGN_OR_RETURN(std::string_view comment, in_section(in.text(), "KRL comment"));
    krl_.comment_ = std::string(comment);

    // As OpenSSH: signatures first, so that nothing unverified is parsed in detail.
    TESSERA_TRY(verify_signatures(in));
    TESSERA_TRY(read_sections(in));
    finish();
    TESSERA_TRY(drop_revoked_signers());
    return std::move(krl_);
  }

 private:
  size_t offset_of(const Reader& r) const { return static_cast<size_t>(r.rest().data() - data_->data()); }

  Status verify_signatures(Reader in) {
    std::vector<Bytes> seen;
    for (size_t index = 1; !in.empty(); ++index) {
      const std::string where = section_name(index);
      TESSERA_ASSIGN_OR_RETURN(uint8_t type, in_section(in.u8(), where));
      TESSERA_ASSIGN_OR_RETURN(Span body, in_section(in.string(), where));
      if (type != static_cast<uint8_t>(KrlSectionType::kSignature)) {
        if (!krl_.signers_.empty()) {
          return Error(Errc::kMalformed, where + ": only signatures may follow a signature");
        }
        continue;
      }
      TESSERA_ASSIGN_OR_RETURN(PublicKey key, in_section(PublicKey::from_blob(body), where + ": signing key"));
      const size_t signed_length = offset_of(in);
      TESSERA_ASSIGN_OR_RETURN(Span signature, in_section(in.string(), where + ": signature"));
      auto verified = key.verify(signature, Span(*data_).first(signed_length));
      if (!verified.ok()) {
        return Error(Errc::kBadSignature, where + ": the KRL signature by " +
                                              fingerprint(key, FingerprintHash::kSha256) +
                                              " does not verify: " + verified.error().message());
      }
      Bytes blob(body.begin(), body.end());
      if (std::find(seen.begin(), seen.end(), blob) != seen.end()) {
        return Error(Errc::kMalformed, where + ": the KRL is signed twice by the same key");
      }
      seen.push_back(std::move(blob));
      krl_.signers_.push_back(std::move(key));
    }
    return {};
  }

  Status read_sections(Reader in) {
    for (size_t index = 1; !in.empty(); ++index) {
      const std::string where = section_name(index);
      TESSERA_ASSIGN_OR_RETURN(uint8_t type, in_section(in.u8(), where));
      TESSERA_ASSIGN_OR_RETURN(Reader body, in_section(in.child(), where));
      switch (static_cast<KrlSectionType>(type)) {
        case KrlSectionType::kCertificates:
          TESSERA_TRY(in_section(read_certificates(body), where + " (certificates)"));
          break;
        case KrlSectionType::kExplicitKey:
          TESSERA_TRY(in_section(read_blobs(body, 0, krl_.keys_), where + " (keys)"));
          break;
        case KrlSectionType::kFingerprintSha1:
          TESSERA_TRY(in_section(read_blobs(body, 20, krl_.sha1_), where + " (SHA1 hashes)"));
          break;
        case KrlSectionType::kFingerprintSha256:
          TESSERA_TRY(in_section(read_blobs(body, 32, krl_.sha256_), where + " (SHA256 hashes)"));
          break;
        case KrlSectionType::kSignature:
          // Verified already; the signature follows the key as its own string.
          TESSERA_TRY(in_section(in.string(), where));
          break;
        default:
          return Error(Errc::kMalformed, where + ": unknown KRL section type " + std::to_string(type));
      }
    }
    return {};
  }

  static Status read_blobs(Reader body, size_t expected_length, std::vector<Span>& out) {
    while (!body.empty()) {
      TESSERA_ASSIGN_OR_RETURN(Span blob, body.string());
      if (expected_length != 0 && blob.size() != expected_length) {
        return Error(Errc::kMalformed, "a hash of " + std::to_string(blob.size()) + " bytes, expected " +
                                           std::to_string(expected_length));
      }
      out.push_back(blob);
    }
    return {};
  }

  // The CA's set of revocations, created on first use (as OpenSSH creates
  // its per-CA entry only when something is revoked under it).
  Krl::CaSet& ca_set(Span ca_blob) {
    for (Krl::CaSet& set : krl_.cas_) {
      if (span_equal(set.ca_blob, ca_blob)) return set;
    }
    krl_.cas_.push_back(Krl::CaSet{});
    krl_.cas_.back().ca_blob = ca_blob;
    return krl_.cas_.back();
  }

  Status read_certificates(Reader body) {
    TESSERA_ASSIGN_OR_RETURN(Span ca_blob, in_section(body.string(), "CA key"));
    TESSERA_ASSIGN_OR_RETURN(Span reserved, in_section(body.string(), "reserved field"));
    (void)reserved;
    if (!ca_blob.empty()) TESSERA_TRY(in_section(check_ca_blob(ca_blob), "CA key"));
    while (!body.empty()) {
      TESSERA_ASSIGN_OR_RETURN(uint8_t type, body.u8());
      TESSERA_ASSIGN_OR_RETURN(Reader sub, body.child());
      switch (static_cast<KrlCertSectionType>(type)) {
        case KrlCertSectionType::kSerialList:
          TESSERA_TRY(in_section(read_serial_list(sub, ca_blob), "serial list"));
          break;
        case KrlCertSectionType::kSerialRange:
          TESSERA_TRY(in_section(read_serial_range(sub, ca_blob), "serial range"));
          break;
        case KrlCertSectionType::kSerialBitmap:
          TESSERA_TRY(in_section(read_serial_bitmap(sub, ca_blob), "serial bitmap"));
          break;
        case KrlCertSectionType::kKeyId:
          TESSERA_TRY(in_section(read_key_ids(sub, ca_blob), "key ids"));
          break;
        default:
          return Error(Errc::kMalformed, "unknown certificate subsection type " + std::to_string(type));
      }
    }
    return {};
  }

  Status read_serial_list(Reader sub, Span ca_blob) {
    Span raw = sub.rest();
    if (raw.size() % 8 != 0) return Error(Errc::kTruncated, "serial list ends inside a serial");
    if (raw.empty()) return {};
    // No reserve(): a KRL may hold many short lists, and push_back's
    // geometric growth keeps that linear.
    std::vector<uint64_t>& serials = ca_set(ca_blob).serials;
    for (size_t i = 0; i < raw.size(); i += 8) {
      uint64_t serial = 0;
      for (size_t j = 0; j < 8; ++j) serial = (serial << 8) | raw[i + j];
      if (serial == 0) return Error(Errc::kMalformed, "serial 0 cannot be revoked");
      serials.push_back(serial);
    }
    return {};
  }

  Status read_serial_range(Reader sub, Span ca_blob) {
    TESSERA_ASSIGN_OR_RETURN(uint64_t first, sub.u64());
    TESSERA_ASSIGN_OR_RETURN(uint64_t last, sub.u64());
    TESSERA_TRY(sub.expect_end());
    if (first == 0 || first > last) {
      return Error(Errc::kMalformed, "invalid serial range " + std::to_string(first) + "-" + std::to_string(last));
    }
    ca_set(ca_blob).ranges.push_back({first, last});
    return {};
  }

  Status read_serial_bitmap(Reader sub, Span ca_blob) {
    TESSERA_ASSIGN_OR_RETURN(uint64_t first, sub.u64());
    // An mpint as OpenSSH's sshbuf_get_bignum2_bytes_direct() reads it:
    // non-negative, leading zero bytes allowed, at most one byte beyond
    // the limit and then only a zero.
    TESSERA_ASSIGN_OR_RETURN(Span bits, sub.string());
    TESSERA_TRY(sub.expect_end());
    if (!bits.empty() && (bits[0] & 0x80) != 0) return Error(Errc::kMalformed, "negative bitmap");
    const uint64_t max_bytes = options_.max_bitmap_bits / 8;
    if (bits.size() > max_bytes + 1 || (bits.size() == max_bytes + 1 && bits[0] != 0)) {
      return Error(Errc::kTooLarge, "bitmap longer than " + std::to_string(options_.max_bitmap_bits) + " bits");
    }
    while (!bits.empty() && bits[0] == 0) bits = bits.subspan(1);
    if (bits.empty()) return {};
    const uint64_t nbits = (bits.size() - 1) * 8 + static_cast<uint64_t>(std::bit_width(bits[0]));
    if (first != 0 && nbits - 1 > UINT64_MAX - first) {
      return Error(Errc::kMalformed, "bitmap runs past the largest serial");
    }
    if (first == 0 && (bits.back() & 1) != 0) return Error(Errc::kMalformed, "serial 0 cannot be revoked");
    ca_set(ca_blob).bitmaps.push_back({first, first + (nbits - 1), bits});
    return {};
  }

  Status read_key_ids(Reader sub, Span ca_blob) {
    while (!sub.empty()) {
      TESSERA_ASSIGN_OR_RETURN(std::string_view id, sub.text());
      ca_set(ca_blob).key_ids.push_back(as_bytes(id));
    }
    return {};
  }

  // Sorts everything for binary search.
  void finish() {
    for (Krl::CaSet& set : krl_.cas_) {
      if (!std::is_sorted(set.serials.begin(), set.serials.end())) std::sort(set.serials.begin(), set.serials.end());
      auto by_first = [](const auto& a, const auto& b) { return a.first < b.first; };
      std::sort(set.ranges.begin(), set.ranges.end(), by_first);
      std::vector<SerialRange> merged;
      for (const SerialRange& r : set.ranges) {
        if (!merged.empty() && r.first <= merged.back().last) {
          merged.back().last = std::max(merged.back().last, r.last);
        } else {
          merged.push_back(r);
        }
      }
      set.ranges = std::move(merged);
      std::sort(set.bitmaps.begin(), set.bitmaps.end(), by_first);
      uint64_t running = 0;
      for (const Krl::Bitmap& b : set.bitmaps) {
        running = std::max(running, b.last);
        set.bitmap_last_max.push_back(running);
      }
      std::sort(set.key_ids.begin(), set.key_ids.end(), span_less);
    }
    std::sort(krl_.keys_.begin(), krl_.keys_.end(), span_less);
    std::sort(krl_.sha1_.begin(), krl_.sha1_.end(), span_less);
    std::sort(krl_.sha256_.begin(), krl_.sha256_.end(), span_less);
  }

  // OpenSSH drops signing keys that the KRL itself revokes, and refuses the
  // KRL if that leaves none.
  Status drop_revoked_signers() {
    if (krl_.signers_.empty()) return {};
    std::erase_if(krl_.signers_, [this](const PublicKey& key) { return krl_.key_revocation(key).has_value(); });
    if (krl_.signers_.empty()) return Error(Errc::kBadSignature, "every key that signed the KRL is revoked by it");
    return {};
  }

  std::shared_ptr<const Bytes> data_;
  KrlParseOptions options_;
  Krl krl_;
};

// ---- Krl ----

Result<Krl> Krl::parse(Bytes data, const KrlParseOptions& options) {
  if (data.size() > kMaxKrlBytes) {
    return Error(Errc::kTooLarge, "KRL larger than " + std::to_string(kMaxKrlBytes) + " bytes");
  }
  return KrlReader(std::make_shared<const Bytes>(std::move(data)), options).read();
}

Result<Krl> Krl::parse(std::span<const uint8_t> data, const KrlParseOptions& options) {
  if (data.size() > kMaxKrlBytes) {
    return Error(Errc::kTooLarge, "KRL larger than " + std::to_string(kMaxKrlBytes) + " bytes");
  }
  return parse(Bytes(data.begin(), data.end()), options);
}

Status Krl::verify_signed_by(const PublicKey& ca) const {
  if (signers_.empty()) return Error(Errc::kBadSignature, "the KRL is not signed");
  for (const PublicKey& signer : signers_) {
    if (signer == ca) return {};
  }
  return Error(Errc::kBadSignature, "the KRL is not signed by " + fingerprint(ca, FingerprintHash::kSha256));
}

bool Krl::serial_revoked(const CaSet& set, uint64_t serial) const {
  if (std::binary_search(set.serials.begin(), set.serials.end(), serial)) return true;

  auto range = std::upper_bound(set.ranges.begin(), set.ranges.end(), serial,
                                [](uint64_t s, const SerialRange& r) { return s < r.first; });
  if (range != set.ranges.begin() && std::prev(range)->last >= serial) return true;

  // Bitmaps may overlap: walk back from the last one starting at or before
  // the serial while some earlier bitmap could still reach it.
  auto bitmap = std::upper_bound(set.bitmaps.begin(), set.bitmaps.end(), serial,
                                 [](uint64_t s, const Bitmap& b) { return s < b.first; });
  for (size_t i = static_cast<size_t>(bitmap - set.bitmaps.begin()); i > 0; --i) {
    if (set.bitmap_last_max[i - 1] < serial) break;
    const Bitmap& b = set.bitmaps[i - 1];
    if (b.last < serial) continue;
    const uint64_t bit = serial - b.first;
    const uint8_t byte = b.bytes[b.bytes.size() - 1 - static_cast<size_t>(bit / 8)];
    if ((byte >> (bit % 8)) & 1) return true;
  }
  return false;
}

std::optional<KrlReason> Krl::key_revocation(const PublicKey& key) const {
  const Bytes blob = key.blob();
  if (!sha1_.empty() && sorted_contains(sha1_, krl_internal::sha1_of(blob))) return KrlReason::kKeySha1;
  if (!sha256_.empty() && sorted_contains(sha256_, krl_internal::sha256_of(blob))) return KrlReason::kKeySha256;
  if (sorted_contains(keys_, blob)) return KrlReason::kExplicitKey;
  return std::nullopt;
}

std::optional<KrlReason> Krl::cert_revocation(const CaSet& set, const Certificate& cert) const {
  auto id = as_bytes(cert.key_id);
  if (sorted_contains(set.key_ids, id)) return KrlReason::kCertKeyId;
  // Serial 0 is what a CA writes when it gives none: never revoked by serial.
  if (cert.serial != 0 && serial_revoked(set, cert.serial)) return KrlReason::kCertSerial;
  return std::nullopt;
}

std::optional<KrlReason> Krl::find_revocation(const PublicKey& key) const { return key_revocation(key); }

std::optional<KrlReason> Krl::find_revocation(const Certificate& cert) const {
  if (auto reason = key_revocation(cert.key)) return reason;
  const Bytes ca = cert.signature_key.blob();
  for (const CaSet& set : cas_) {
    if (!set.ca_blob.empty() && span_equal(set.ca_blob, ca)) {
      if (auto reason = cert_revocation(set, cert)) return reason;
      break;
    }
  }
  for (const CaSet& set : cas_) {
    if (set.ca_blob.empty()) {
      if (auto reason = cert_revocation(set, cert)) return reason;
      break;
    }
  }
  if (key_revocation(cert.signature_key)) return KrlReason::kCaKeyRevoked;
  return std::nullopt;
}

KrlContents Krl::contents() const {
  KrlContents out;
  out.version = version_;
  out.generated_date = generated_date_;
  out.flags = flags_;
  out.comment = comment_;
  for (const CaSet& set : cas_) {
    std::vector<SerialRange> runs;
    runs.reserve(set.serials.size() + set.ranges.size());
    for (uint64_t s : set.serials) runs.push_back({s, s});
    runs.insert(runs.end(), set.ranges.begin(), set.ranges.end());
    for (const Bitmap& b : set.bitmaps) {
      for (uint64_t bit = 0; bit <= b.last - b.first; ++bit) {
        const uint8_t byte = b.bytes[b.bytes.size() - 1 - static_cast<size_t>(bit / 8)];
        if ((byte >> (bit % 8)) & 1) runs.push_back({b.first + bit, b.first + bit});
      }
    }
    // KrlBuilder merges and sorts exactly as the canonical form wants.
    KrlBuilder merge;
    for (const SerialRange& r : runs) (void)merge.revoke_serial_range(std::nullopt, r.first, r.last);
    for (Span id : set.key_ids) (void)merge.revoke_key_id(std::nullopt, as_text(id));
    KrlContents merged = merge.contents();
    KrlCaRevocations ca{Bytes(set.ca_blob.begin(), set.ca_blob.end()), {}, {}};
    if (!merged.certificates.empty()) {
      ca.serials = std::move(merged.certificates.front().serials);
      ca.key_ids = std::move(merged.certificates.front().key_ids);
    }
    out.certificates.push_back(std::move(ca));
  }
  auto unique_blobs = [](const std::vector<Span>& sorted) {
    std::vector<Bytes> blobs;
    for (Span s : sorted) {
      if (blobs.empty() || !span_equal(blobs.back(), s)) blobs.emplace_back(s.begin(), s.end());
    }
    return blobs;
  };
  out.keys = unique_blobs(keys_);
  for (const Bytes& b : unique_blobs(sha1_)) std::copy(b.begin(), b.end(), out.sha1.emplace_back().begin());
  for (const Bytes& b : unique_blobs(sha256_)) std::copy(b.begin(), b.end(), out.sha256.emplace_back().begin());
  return out;
}

std::string_view krl_reason_text(KrlReason reason) {
  switch (reason) {
    case KrlReason::kKeySha1: return "key revoked by SHA1 hash";
    case KrlReason::kKeySha256: return "key revoked by SHA256 hash";
    case KrlReason::kExplicitKey: return "key revoked";
    case KrlReason::kCertKeyId: return "certificate revoked by key id";
    case KrlReason::kCertSerial: return "certificate revoked by serial";
    case KrlReason::kCaKeyRevoked: return "certificate's CA key revoked";
  }
  return "revoked";
}

}  // namespace tessera::key
