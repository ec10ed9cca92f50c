#include "stack/wire/address.h"

#include <charconv>

#include "fmt/format.h"

namespace netshim {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses a decimal number made only of digits, bounded by max.
std::optional<uint32_t> ParseDecimal(std::string_view s, uint32_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

}  // namespace

std::optional<MacAddress> MacAddress::Parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress mac;
  for (size_t i = 0; i < 6; ++i) {
    const size_t at = i * 3;
    if (i > 0 && text[at - 1] != ':') return std::nullopt;
    int hi = HexDigit(text[at]), lo = HexDigit(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    mac.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

std::string MacAddress::ToString() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

std::optional<Ipv4Address> Ipv4Address::Parse(std::string_view text) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = text.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return std::nullopt;
    std::string_view part = text.substr(0, dot);
    if (part.size() > 3) return std::nullopt;
    auto octet = ParseDecimal(part, 255);
    if (!octet) return std::nullopt;
    value = value << 8 | *octet;
    text = i < 3 ? text.substr(dot + 1) : std::string_view();
  }
  return Ipv4Address{value};
}

std::string Ipv4Address::ToString() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff,
                     value & 0xff);
}

std::optional<Ipv4Cidr> Ipv4Cidr::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = Ipv4Address::Parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  if (slash == std::string_view::npos) return Ipv4Cidr{*address, 32};
  auto len = ParseDecimal(text.substr(slash + 1), 32);
  if (!len || text.size() - slash - 1 > 2) return std::nullopt;
  return Ipv4Cidr{*address, static_cast<uint8_t>(*len)};
}

std::string Ipv4Cidr::ToString() const {
  return fmt::format("{}/{}", address.ToString(), prefix_len);
}

}  // namespace netshim
