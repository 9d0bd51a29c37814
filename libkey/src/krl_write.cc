// Building and writing KRLs (PROTOCOL.krl). The section encoding follows
// OpenSSH's krl.c (revoked_certs_generate, choose_next_state) decision for
// decision, so that tessera's KRL for some content is the very file
// ssh-keygen -k writes for it; the one exception is the bitmap length limit
// explained in krl.h.
#include <algorithm>
#include <ctime>
#include <utility>

#include "krl_internal.h"
#include "tessera/key/fingerprint.h"
#include "tessera/key/krl.h"

namespace tessera::key {
namespace {

// ---- canonical form ----

void sort_unique(auto& items) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
}

// Sorts ranges by their first serial. A million random serials are a common
// case (a CA revoking by serial), and a radix sort (four passes of 16 bits)
// does that several times faster than a comparison sort.
void sort_by_first(std::vector<SerialRange>& ranges) {
  auto by_first = [](const SerialRange& a, const SerialRange& b) { return a.first < b.first; };
  if (std::is_sorted(ranges.begin(), ranges.end(), by_first)) return;
  constexpr size_t kRadixThreshold = 4096;
  if (ranges.size() < kRadixThreshold) {
    std::sort(ranges.begin(), ranges.end(), by_first);
    return;
  }
  std::vector<SerialRange> scratch(ranges.size());
  std::vector<size_t> counts(size_t{1} << 16);
  for (unsigned shift = 0; shift < 64; shift += 16) {
    std::fill(counts.begin(), counts.end(), 0);
    for (const SerialRange& r : ranges) ++counts[(r.first >> shift) & 0xffff];
    size_t total = 0;
    for (size_t& c : counts) total += std::exchange(c, total);
    for (const SerialRange& r : ranges) scratch[counts[(r.first >> shift) & 0xffff]++] = r;
    ranges.swap(scratch);
  }
}

// Sorts ranges and merges those that overlap or touch, as OpenSSH's
// insert_serial_range() keeps its tree.
std::vector<SerialRange> merge_ranges(std::vector<SerialRange> ranges) {
  sort_by_first(ranges);
  std::vector<SerialRange> merged;
  merged.reserve(ranges.size());
  for (const SerialRange& r : ranges) {
    if (!merged.empty() && (merged.back().last == UINT64_MAX || r.first <= merged.back().last + 1)) {
      merged.back().last = std::max(merged.back().last, r.last);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

// ---- serial sections ----

using krl_internal::SerialState;

// OpenSSH's bit-cost model: which subsection type to continue or start for
// the next run of `contig` serials, given the gaps before and after it.
SerialState choose_next_state(SerialState current, uint64_t contig, bool final, uint64_t last_gap,
                              uint64_t next_gap, bool* force_new_section) {
  // Caps keep the arithmetic from overflowing without changing any decision.
  constexpr uint64_t kCap = uint64_t{1} << 31;
  contig = std::min(contig, kCap);
  last_gap = std::min(last_gap, kCap);
  next_gap = std::min(next_gap, kCap);

  // Bits to switch from the current state to each candidate. A range
  // subsection holds one range, so its switching cost never changes.
  uint64_t cost_list = 0, cost_bitmap = 0, cost_bitmap_restart = 0;
  uint64_t cost_range = 8;
  switch (current) {
    case SerialState::kList:
      cost_bitmap_restart = cost_bitmap = 8 + 64;
      break;
    case SerialState::kBitmap:
      cost_list = 8;
      cost_bitmap_restart = 8 + 64;
      break;
    case SerialState::kRange:
    case SerialState::kNone:
      cost_bitmap_restart = cost_bitmap = 8 + 64;
      cost_list = 8;
      break;
  }
  cost_list += 64 * contig + (final ? 0 : 8 + 64);
  cost_range += (2 * 64) + (final ? 0 : 8 + 64);
  cost_bitmap += last_gap + contig + (final ? 0 : std::min<uint64_t>(next_gap, 8 + 64));
  cost_bitmap_restart += contig + (final ? 0 : std::min<uint64_t>(next_gap, 8 + 64));

  // Compared in whole bytes.
  cost_list = (cost_list + 7) / 8;
  cost_bitmap = (cost_bitmap + 7) / 8;
  cost_bitmap_restart = (cost_bitmap_restart + 7) / 8;
  cost_range = (cost_range + 7) / 8;

  *force_new_section = false;
  SerialState next = SerialState::kBitmap;
  uint64_t cost = cost_bitmap;
  if (cost_range < cost) {
    next = SerialState::kRange;
    cost = cost_range;
  }
  if (cost_list < cost) {
    next = SerialState::kList;
    cost = cost_list;
  }
  if (cost_bitmap_restart < cost) {
    next = SerialState::kBitmap;
    *force_new_section = true;
  }
  return next;
}

// The subsection being filled: its type and body.
class SerialSections {
 public:
  explicit SerialSections(Writer& out) : out_(out) {}

  SerialState state() const { return state_; }
  uint64_t bitmap_start() const { return bitmap_start_; }

  void start(SerialState state, uint64_t first) {
    state_ = state;
    body_.clear();
    bits_.clear();
    if (state == SerialState::kBitmap) {
      bitmap_start_ = first;
      append_u64(first);
    }
  }

  void add(const SerialRange& r) {
    switch (state_) {
      case SerialState::kList:
        for (uint64_t s = r.first;; ++s) {
          append_u64(s);
          if (s == r.last) break;
        }
        break;
      case SerialState::kRange:
        append_u64(r.first);
        append_u64(r.last);
        break;
      case SerialState::kBitmap: {
        const uint64_t top = r.last - bitmap_start_;  // below kMaxKrlBitmapBits: the caller splits
        bits_.resize(std::max<size_t>(bits_.size(), static_cast<size_t>(top / 8 + 1)), 0);
        for (uint64_t bit = r.first - bitmap_start_; bit <= top; ++bit) {
          bits_[static_cast<size_t>(bit / 8)] |= static_cast<uint8_t>(1u << (bit % 8));
        }
        break;
      }
      case SerialState::kNone:
        std::abort();  // start() comes first
    }
  }

  void finish() {
    if (state_ == SerialState::kNone) return;
    out_.u8(static_cast<uint8_t>(state_));
    if (state_ == SerialState::kBitmap) {
      // The bitmap is an mpint: most significant byte first.
      Writer mpint;
      mpint.mpint(Bytes(bits_.rbegin(), bits_.rend()));
      out_.u32(static_cast<uint32_t>(body_.size() + mpint.size()));
      out_.bytes(body_);
      out_.bytes(mpint.data());
    } else {
      out_.string(body_);
    }
    state_ = SerialState::kNone;
  }

 private:
  // Serial lists run to millions of entries: appended to plain bytes, not
  // through a Writer, whose buffer wipes itself on every reallocation.
  void append_u64(uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) body_.push_back(static_cast<uint8_t>(v >> shift));
  }

  Writer& out_;
  SerialState state_ = SerialState::kNone;
  Bytes body_;
  Bytes bits_;  // bit i of the bitmap is bits_[i / 8] bit (i % 8)
  uint64_t bitmap_start_ = 0;
};

void write_serials(const std::vector<SerialRange>& ranges, Writer& out) {
  SerialSections sections(out);
  uint64_t last = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const SerialRange& r = ranges[i];
    const bool final = i + 1 == ranges.size();
    const uint64_t gap = final ? 0 : ranges[i + 1].first - r.last;
    const uint64_t contig = 1 + (r.last - r.first);
    const SerialState state = sections.state();
    bool force = false;
    SerialState next = choose_next_state(state, contig, final, state == SerialState::kNone ? 0 : r.first - last,
                                         gap, &force);
    // tessera: OpenSSH cannot read a bitmap longer than kMaxKrlBitmapBits,
    // so one that would grow past it starts afresh. (The cost model never
    // puts a run that long into a bitmap; the check is for safety.)
    if (next == SerialState::kBitmap && contig >= kMaxKrlBitmapBits) {
      next = SerialState::kRange;
      force = false;
    }
    if (next == SerialState::kBitmap && state == SerialState::kBitmap && !force &&
        r.last - sections.bitmap_start() >= kMaxKrlBitmapBits) {
      force = true;
    }
    if (state != SerialState::kNone && (force || next != state || state == SerialState::kRange)) {
      sections.finish();
    }
    if (next != state || force || sections.state() == SerialState::kNone) sections.start(next, r.first);
    sections.add(r);
    last = r.last;
  }
  sections.finish();
}

void write_ca_section(const KrlCaRevocations& ca, Writer& out) {
  Writer section;
  section.string(ca.ca_blob);  // empty: any CA
  section.string(Bytes{});     // reserved
  write_serials(ca.serials, section);
  if (!ca.key_ids.empty()) {
    Writer ids;
    for (const std::string& id : ca.key_ids) ids.string(id);
    section.u8(static_cast<uint8_t>(KrlCertSectionType::kKeyId));
    section.string(ids);
  }
  out.u8(static_cast<uint8_t>(KrlSectionType::kCertificates));
  out.string(section);
}

template <typename Blob>
void write_blob_section(KrlSectionType type, const std::vector<Blob>& blobs, Writer& out) {
  if (blobs.empty()) return;
  Writer section;
  for (const Blob& b : blobs) section.string(std::span<const uint8_t>(b.data(), b.size()));
  out.u8(static_cast<uint8_t>(type));
  out.string(section);
}

uint64_t now_seconds() {
  const std::time_t t = std::time(nullptr);
  return t < 0 ? 0 : static_cast<uint64_t>(t);
}

}  // namespace

// ---- KrlBuilder ----

KrlBuilder::KrlBuilder(KrlContents contents) {
  for (KrlCaRevocations& ca : contents.certificates) {
    cas_.push_back(CaEntry{std::nullopt, std::move(ca.ca_blob), std::move(ca.serials), std::move(ca.key_ids)});
  }
  contents.certificates.clear();
  contents_ = std::move(contents);
}

Status KrlBuilder::set_comment(std::string_view comment) {
  if (comment.find('\0') != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "a KRL comment cannot hold a NUL byte");
  }
  contents_.comment = std::string(comment);
  return {};
}

KrlBuilder::CaEntry& KrlBuilder::ca_entry(const std::optional<PublicKey>& ca) {
  auto matches = [&ca](const CaEntry& e) {
    if (!ca.has_value()) return e.blob.empty();
    if (e.key.has_value()) return *e.key == *ca;
    return !e.blob.empty() && e.blob == ca->blob();
  };
  if (last_ca_ < cas_.size() && matches(cas_[last_ca_])) return cas_[last_ca_];
  for (size_t i = 0; i < cas_.size(); ++i) {
    if (matches(cas_[i])) {
      last_ca_ = i;
      if (ca.has_value() && !cas_[i].key.has_value()) cas_[i].key = ca;
      return cas_[i];
    }
  }
  cas_.push_back(CaEntry{ca, ca.has_value() ? ca->blob() : Bytes{}, {}, {}});
  last_ca_ = cas_.size() - 1;
  return cas_.back();
}

Status KrlBuilder::revoke_serial(const std::optional<PublicKey>& ca, uint64_t serial) {
  return revoke_serial_range(ca, serial, serial);
}

Status KrlBuilder::revoke_serial_range(const std::optional<PublicKey>& ca, uint64_t first, uint64_t last) {
  if (first == 0) {
    return Error(Errc::kInvalidArgument, "serial 0 cannot be revoked: it is the serial of certificates that have none");
  }
  if (first > last) {
    return Error(Errc::kInvalidArgument, "invalid serial range " + std::to_string(first) + "-" + std::to_string(last));
  }
  ca_entry(ca).serials.push_back({first, last});
  return {};
}

Status KrlBuilder::revoke_key_id(const std::optional<PublicKey>& ca, std::string_view key_id) {
  if (key_id.find('\0') != std::string_view::npos) {
    return Error(Errc::kInvalidArgument, "a certificate key id cannot hold a NUL byte");
  }
  ca_entry(ca).key_ids.emplace_back(key_id);
  return {};
}

void KrlBuilder::revoke_key(const PublicKey& key) { contents_.keys.push_back(key.blob()); }
void KrlBuilder::revoke_sha1(const Sha1Digest& digest) { contents_.sha1.push_back(digest); }
void KrlBuilder::revoke_sha256(const Sha256Digest& digest) { contents_.sha256.push_back(digest); }
void KrlBuilder::revoke_key_sha1(const PublicKey& key) { revoke_sha1(krl_internal::sha1_of(key.blob())); }
void KrlBuilder::revoke_key_sha256(const PublicKey& key) { revoke_sha256(krl_internal::sha256_of(key.blob())); }

void KrlBuilder::revoke_certificate(const Certificate& cert) {
  // A certificate key id has no NUL byte (Certificate::parse refuses one)
  // and its serial is not 0 on the serial path: neither call can fail.
  if (cert.serial == 0) {
    (void)revoke_key_id(cert.signature_key, cert.key_id);
  } else {
    (void)revoke_serial(cert.signature_key, cert.serial);
  }
}

KrlContents KrlBuilder::contents() const {
  KrlContents out = contents_;
  sort_unique(out.keys);
  sort_unique(out.sha1);
  sort_unique(out.sha256);
  out.certificates.reserve(cas_.size());
  for (const CaEntry& e : cas_) {
    KrlCaRevocations ca{e.blob, merge_ranges(e.serials), e.key_ids};
    sort_unique(ca.key_ids);
    out.certificates.push_back(std::move(ca));
  }
  return out;
}

Bytes KrlBuilder::serialize() const { return serialize_krl(contents()); }

Bytes serialize_krl(const KrlContents& contents) {
  Writer out;
  out.bytes(as_bytes(kKrlMagic));
  out.u32(kKrlFormatVersion);
  out.u64(contents.version);
  out.u64(contents.generated_date != 0 ? contents.generated_date : now_seconds());
  out.u64(contents.flags);
  out.string(Bytes{});  // reserved
  out.string(contents.comment);
  for (const KrlCaRevocations& ca : contents.certificates) write_ca_section(ca, out);
  write_blob_section(KrlSectionType::kExplicitKey, contents.keys, out);
  write_blob_section(KrlSectionType::kFingerprintSha1, contents.sha1, out);
  write_blob_section(KrlSectionType::kFingerprintSha256, contents.sha256, out);
  return out.take();
}

Result<Bytes> KrlBuilder::serialize_signed(std::span<const KrlSigner> signers) const {
  Writer out;
  out.bytes(serialize());
  std::vector<Bytes> seen;
  for (const KrlSigner& signer : signers) {
    Bytes key_blob = signer.key.blob();
    if (std::find(seen.begin(), seen.end(), key_blob) != seen.end()) {
      return Error(Errc::kInvalidArgument, "KRL signed twice with the key " +
                                               fingerprint(signer.key, FingerprintHash::kSha256));
    }
    out.u8(static_cast<uint8_t>(KrlSectionType::kSignature));
    out.string(key_blob);
    if (!signer.sign) return Error(Errc::kInvalidArgument, "KRL signer without a signing function");
    auto signature = signer.sign(out.data());
    if (!signature.ok()) return signature.error().with_context("signing the KRL");
    // A token or an agent may hand back anything: check before writing.
    TESSERA_TRY(signer.key.verify(*signature, out.data()));
    out.string(*signature);
    seen.push_back(std::move(key_blob));
  }
  Bytes signed_krl = out.take();
  // OpenSSH refuses a KRL that revokes every key that signed it; so does
  // Krl::parse, which also re-checks every signature.
  auto check = Krl::parse(std::span<const uint8_t>(signed_krl));
  if (!check.ok()) return check.error().with_context("the signed KRL");
  return signed_krl;
}

KrlSigner make_krl_signer(PrivateKey key, SignatureAlgorithm rsa_algorithm) {
  const SignatureAlgorithm alg = key.type() == KeyType::kRsa ? rsa_algorithm : SignatureAlgorithm::kDefault;
  PublicKey pub = key.public_key();
  return KrlSigner{std::move(pub), [key = std::move(key), alg](std::span<const uint8_t> data) {
                     return key.sign(data, alg);
                   }};
}

}  // namespace tessera::key
