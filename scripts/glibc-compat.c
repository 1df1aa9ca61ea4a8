/* Linked into the prebuilt addon only (scripts/prebuildify-cmake-js.js), beside a static
 * libstdc++.  libstdc++.a's std::random_device object is always pulled in (through its
 * std::string instantiations) and refers to arc4random, which glibc added in 2.36; resolving it
 * here, hidden, keeps the binary's glibc floor at what the rest needs (2.34 on a glibc >= 2.34
 * build host) instead of the build host's 2.36.  The addon never uses std::random_device; this
 * is a correct arc4random all the same (getentropy: glibc 2.25). */
#include <stdint.h>
#include <unistd.h>

__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t value;
  while (getentropy(&value, sizeof value) != 0) {
  }
  return value;
}
