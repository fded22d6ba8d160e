// Typed reference-counting pointers for GStreamer / GObject objects, modelled on WebKit's
// GRefPtrGStreamer.h: they get floating references right, which std::unique_ptr cannot.
//
//   GstPtr<T>::adopt(p)  takes over a reference the caller owns ("transfer full" or
//                        "transfer floating"). A floating reference is sunk, so the pointer
//                        then holds exactly one full reference and the object is never
//                        freed twice nor leaked.
//   GstPtr<T>::ref(p)    takes a new reference to an object the caller only borrows
//                        ("transfer none"); a floating object is sunk.
//   release()            hands the reference back to the caller (for "transfer full" APIs).
//
// GstPtr is for GObject-derived types (GstElement, GstBus, GstPad, GstRTSPServer, ...);
// GstMiniPtr for GstMiniObject-derived ones (GstCaps, GstBuffer, GstSample, GstMessage).
//
// Internal to src/media/: no public header of the module includes this file, so GStreamer
// stays inside the module. Thread-safety: like std::shared_ptr (the refcount is atomic; one
// pointer object is thread-compatible).
#pragma once

#include <gst/gst.h>

#include <utility>

namespace orion::media {

template <class T>
class GstPtr {
 public:
  GstPtr() = default;
  GstPtr(std::nullptr_t) {}  // NOLINT: implicit by design
  ~GstPtr() { reset(); }
  GstPtr(const GstPtr& o) : p_(o.p_) {
    if (p_) g_object_ref(p_);
  }
  GstPtr(GstPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  GstPtr& operator=(GstPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }

  static GstPtr adopt(T* p) {
    GstPtr r;
    if (p && g_object_is_floating(p)) g_object_ref_sink(p);
    r.p_ = p;
    return r;
  }
  static GstPtr ref(T* p) {
    GstPtr r;
    if (p) g_object_ref_sink(p);
    r.p_ = p;
    return r;
  }

  void reset() {
    if (p_) g_object_unref(std::exchange(p_, nullptr));
  }
  T* release() { return std::exchange(p_, nullptr); }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

template <class T>
class GstMiniPtr {
 public:
  GstMiniPtr() = default;
  GstMiniPtr(std::nullptr_t) {}  // NOLINT: implicit by design
  ~GstMiniPtr() { reset(); }
  GstMiniPtr(const GstMiniPtr& o) : p_(o.p_) {
    if (p_) gst_mini_object_ref(GST_MINI_OBJECT_CAST(p_));
  }
  GstMiniPtr(GstMiniPtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  GstMiniPtr& operator=(GstMiniPtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }

  static GstMiniPtr adopt(T* p) {
    GstMiniPtr r;
    r.p_ = p;
    return r;
  }
  static GstMiniPtr ref(T* p) {
    GstMiniPtr r;
    if (p) gst_mini_object_ref(GST_MINI_OBJECT_CAST(p));
    r.p_ = p;
    return r;
  }

  void reset() {
    if (p_) gst_mini_object_unref(GST_MINI_OBJECT_CAST(std::exchange(p_, nullptr)));
  }
  T* release() { return std::exchange(p_, nullptr); }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

// A GError or g_malloc'ed string owned by RAII.
struct GErrorDeleter {
  void operator()(GError* e) const { g_error_free(e); }
};
struct GFreeDeleter {
  void operator()(void* p) const { g_free(p); }
};

}  // namespace orion::media
