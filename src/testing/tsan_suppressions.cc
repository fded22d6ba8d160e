// ThreadSanitizer suppressions for third-party code linked into the tests that use OpenCV
// (src/infer, src/media's jpeg_test; TSan reads them through this hook, so no TSAN_OPTIONS
// change is needed in CI). Only code we did not
// build with TSan is named here; a report in Orion's own code is never suppressed.
//   libgdal: OpenCV's imgcodecs initialises GDAL (a plugin of Debian's OpenCV) on first
//   imread/imwrite; GDAL takes two of its own global mutexes in both orders during that
//   single-threaded setup, which TSan reports as a potential deadlock.
//   libopencv_dnn / libtbb: OpenCV DNN runs layers on TBB worker threads. Neither library is
//   instrumented, so TSan does not see TBB's hand-offs and reports the layers' buffer writes
//   (seen: a memcpy in libopencv_dnn on a TBB thread vs the caller's read) as races.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() {
  return "deadlock:libgdal.so\n"
         "race:libopencv_dnn.so\n"
         "race:libtbb.so\n";
}
