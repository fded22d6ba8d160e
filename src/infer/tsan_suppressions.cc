// ThreadSanitizer suppressions for third-party code linked into src/infer tests (TSan reads
// them through this hook, so no TSAN_OPTIONS change is needed in CI).
//   libgdal: OpenCV's imgcodecs initialises GDAL (a plugin of Debian's OpenCV) on first
//   imread/imwrite; GDAL takes two of its own global mutexes in both orders during that
//   single-threaded setup, which TSan reports as a potential deadlock.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() { return "deadlock:libgdal.so\n"; }
