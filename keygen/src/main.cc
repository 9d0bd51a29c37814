// Placeholder entry point until the CLI lands.
#include <cstdio>
int main() {
  std::fprintf(stderr, "tessera-keygen: not built yet\n");
  return 1;
}
