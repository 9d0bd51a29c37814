// Errors of the agent protocol's parsers name the field they came from
// ("restrict-destination: \"to\" hop: truncated input"). Internal to the codec.
#ifndef TESSERA_AGENT_PROTOCOL_FIELDS_H_
#define TESSERA_AGENT_PROTOCOL_FIELDS_H_

#include <string_view>

#include "tessera/key/error.h"

namespace tessera::agent::detail {

// Prefixes a failure with the field it came from; passes a success through.
template <typename T>
key::Result<T> in_field(key::Result<T> r, std::string_view field) {
  if (!r.ok()) return r.error().with_context(field);
  return r;
}
inline key::Status in_field(key::Status s, std::string_view field) {
  if (!s.ok()) return s.error().with_context(field);
  return s;
}

}  // namespace tessera::agent::detail

#endif  // TESSERA_AGENT_PROTOCOL_FIELDS_H_
