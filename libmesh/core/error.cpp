#include "mesh/error.hpp"

namespace mesh {

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::invalid_config:
      return "invalid_config";
    case errc::io_error:
      return "io_error";
    case errc::crypto_error:
      return "crypto_error";
    case errc::decode_error:
      return "decode_error";
    case errc::too_large:
      return "too_large";
    case errc::unsupported_version:
      return "unsupported_version";
    case errc::not_found:
      return "not_found";
    case errc::timed_out:
      return "timed_out";
    case errc::rejected:
      return "rejected";
    case errc::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace mesh
