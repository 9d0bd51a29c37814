#include "constraints.h"

#include <string>

#include "fields.h"

namespace tessera::agent::detail {

using key::Reader;
using key::Writer;
using key::ok_status;

namespace {

// A hop: string user, string hostname, string reserved (must be empty), then
// (string key blob, bool is_ca) pairs until the end of the hop's string.
Result<DestinationHop> parse_hop(Reader in) {
  DestinationHop hop;
  TESSERA_ASSIGN_OR_RETURN(auto user, in_field(in.text(), "user"));
  TESSERA_ASSIGN_OR_RETURN(auto hostname, in_field(in.text(), "hostname"));
  TESSERA_ASSIGN_OR_RETURN(auto reserved, in_field(in.string(), "reserved field"));
  if (!reserved.empty()) {
    return Error(Errc::kUnsupported, "hop carries " + std::to_string(reserved.size()) +
                                         " bytes of extensions tessera does not know");
  }
  hop.user = std::string(user);
  hop.hostname = std::string(hostname);
  while (!in.empty()) {
    if (hop.keys.size() >= kMaxHopKeys) {
      return Error(Errc::kTooLarge, "more than " + std::to_string(kMaxHopKeys) + " host keys in one hop");
    }
    TESSERA_ASSIGN_OR_RETURN(auto blob, in_field(in.string(), "host key"));
    TESSERA_ASSIGN_OR_RETURN(key::PublicKey host_key, in_field(key::PublicKey::from_blob(blob), "host key"));
    TESSERA_ASSIGN_OR_RETURN(bool is_ca, in_field(in.boolean(), "host key CA flag"));
    hop.keys.push_back(HopKey{std::move(host_key), is_ca});
  }
  return hop;
}

void serialize_hop(const DestinationHop& hop, Writer& out) {
  Writer w;
  w.string(hop.user);
  w.string(hop.hostname);
  w.string(std::string_view{});  // reserved
  for (const auto& k : hop.keys) {
    w.string(k.key.blob());
    w.boolean(k.is_ca);
  }
  out.string(w);
}

// One constraint: string(string from-hop, string to-hop, string reserved),
// validated as ssh-agent.c's parse_dest_constraint does.
Result<DestinationConstraint> parse_destination(Reader& list) {
  TESSERA_ASSIGN_OR_RETURN(Reader c, list.child());
  TESSERA_ASSIGN_OR_RETURN(Reader from_reader, in_field(c.child(), "\"from\" hop"));
  TESSERA_ASSIGN_OR_RETURN(Reader to_reader, in_field(c.child(), "\"to\" hop"));
  TESSERA_ASSIGN_OR_RETURN(auto reserved, in_field(c.string(), "reserved field"));
  TESSERA_TRY(c.expect_end());
  DestinationConstraint dc;
  TESSERA_ASSIGN_OR_RETURN(dc.from, in_field(parse_hop(from_reader), "\"from\" hop"));
  TESSERA_ASSIGN_OR_RETURN(dc.to, in_field(parse_hop(to_reader), "\"to\" hop"));
  if (!reserved.empty()) {
    return Error(Errc::kUnsupported, "destination constraint carries extensions tessera does not know");
  }
  // An empty "from" hostname with no keys means the host running the agent;
  // a hostname without keys (or keys without a hostname) is inconsistent.
  if (dc.from.hostname.empty() != dc.from.keys.empty() || !dc.from.user.empty()) {
    return Error(Errc::kMalformed, "inconsistent \"from\" specification");
  }
  if (dc.to.hostname.empty() || dc.to.keys.empty()) {
    return Error(Errc::kMalformed, "incomplete \"to\" specification: hostname and host keys are required");
  }
  return dc;
}

void serialize_destination(const DestinationConstraint& dc, Writer& out) {
  Writer w;
  serialize_hop(dc.from, w);
  serialize_hop(dc.to, w);
  w.string(std::string_view{});  // reserved
  out.string(w);
}

Error duplicate(std::string_view what) { return Error(Errc::kMalformed, std::string(what) + " given twice"); }

Status parse_extension(Reader& in, ConstraintContext context, Constraints& out, bool& have_destinations) {
  TESSERA_ASSIGN_OR_RETURN(std::string_view name, in_field(in.text(), "constraint extension name"));
  if (name == kConstraintSkProvider) {
    if (context != ConstraintContext::kIdentity) {
      return Error(Errc::kMalformed, std::string(name) + " is not valid for smartcard keys");
    }
    if (out.sk_provider) return duplicate(name);
    TESSERA_ASSIGN_OR_RETURN(auto path, in_field(in.text(), name));
    out.sk_provider = std::string(path);
    return ok_status();
  }
  if (name == kConstraintRestrictDestination) {
    if (have_destinations) return duplicate(name);
    have_destinations = true;
    TESSERA_ASSIGN_OR_RETURN(Reader list, in_field(in.child(), name));
    while (!list.empty()) {
      if (out.destinations.size() >= kMaxDestinationConstraints) {
        return Error(Errc::kTooLarge,
                     "more than " + std::to_string(kMaxDestinationConstraints) + " destination constraints");
      }
      TESSERA_ASSIGN_OR_RETURN(DestinationConstraint dc, in_field(parse_destination(list), name));
      out.destinations.push_back(std::move(dc));
    }
    return ok_status();
  }
  if (name == kConstraintAssociatedCerts) {
    if (context != ConstraintContext::kSmartcard) {
      return Error(Errc::kMalformed, std::string(name) + " is only valid when adding smartcard keys");
    }
    if (out.associated_certs) return duplicate(name);
    AssociatedCerts ac;
    TESSERA_ASSIGN_OR_RETURN(ac.certs_only, in_field(in.boolean(), name));
    TESSERA_ASSIGN_OR_RETURN(Reader list, in_field(in.child(), name));
    while (!list.empty()) {
      if (ac.certs.size() >= kMaxAssociatedCerts) {
        return Error(Errc::kTooLarge, "more than " + std::to_string(kMaxAssociatedCerts) + " associated certificates");
      }
      TESSERA_ASSIGN_OR_RETURN(auto blob, in_field(list.string(), name));
      TESSERA_ASSIGN_OR_RETURN(key::Certificate cert, in_field(key::Certificate::from_blob(blob), name));
      ac.certs.push_back(std::move(cert));
    }
    out.associated_certs = std::move(ac);
    return ok_status();
  }
  return Error(Errc::kUnsupported, "unknown key constraint extension \"" + std::string(name) + "\"");
}

}  // namespace

Status parse_constraints(Reader& in, ConstraintContext context, Constraints& out) {
  bool have_destinations = false;  // an empty destination list still counts as given
  while (!in.empty()) {
    TESSERA_ASSIGN_OR_RETURN(uint8_t type, in_field(in.u8(), "constraint type"));
    switch (type) {
      case kConstrainLifetime: {
        if (out.lifetime_seconds) return duplicate("lifetime constraint");
        TESSERA_ASSIGN_OR_RETURN(uint32_t seconds, in_field(in.u32(), "lifetime constraint"));
        out.lifetime_seconds = seconds;
        break;
      }
      case kConstrainConfirm:
        if (out.confirm) return duplicate("confirm constraint");
        out.confirm = true;
        break;
      case kConstrainMaxSign:
        return Error(Errc::kUnsupported, "the maxsign constraint applies only to XMSS keys, which tessera does not support");
      case kConstrainExtension:
        TESSERA_TRY(parse_extension(in, context, out, have_destinations));
        break;
      default:
        return Error(Errc::kUnsupported, "unknown key constraint type " + std::to_string(type));
    }
  }
  return ok_status();
}

void serialize_constraints(const Constraints& c, Writer& out) {
  if (c.lifetime_seconds) {
    out.u8(kConstrainLifetime);
    out.u32(*c.lifetime_seconds);
  }
  if (c.confirm) out.u8(kConstrainConfirm);
  if (c.sk_provider) {
    out.u8(kConstrainExtension);
    out.string(kConstraintSkProvider);
    out.string(*c.sk_provider);
  }
  if (!c.destinations.empty()) {
    Writer list;
    for (const auto& dc : c.destinations) serialize_destination(dc, list);
    out.u8(kConstrainExtension);
    out.string(kConstraintRestrictDestination);
    out.string(list);
  }
  if (c.associated_certs) {
    Writer list;
    for (const auto& cert : c.associated_certs->certs) list.string(cert.blob());
    out.u8(kConstrainExtension);
    out.string(kConstraintAssociatedCerts);
    out.boolean(c.associated_certs->certs_only);
    out.string(list);
  }
}

}  // namespace tessera::agent::detail
