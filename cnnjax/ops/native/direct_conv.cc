// Direct convolutions of NHWC float32 tensors for XLA:CPU, as XLA FFI handlers.
//
// XLA:CPU runs convolutions with few channels through Eigen's im2col + GEMM, whose packing
// dominates when the GEMM is only 16-32 wide, and computes their kernel gradient after copying
// the activation into a batch-minor layout. These kernels read the NHWC tensors as they are and
// keep a register tile of outputs: with AVX-512, 8 output columns x 16 or 32 output channels
// for the convolution and 16 input x 16 or 8 x 32 output channels of one tap for the kernel
// gradient; with 8-lane vectors, 8 columns x 8 channels and 8 x 8.
//
// Shapes (N is a leading group axis for vmap; every group has its own kernel):
//   cnnjax_direct_conv:             x (N,B,H,W,C), k (N,KH,KW,C,O) -> y (N,B,OH,OW,O)
//   cnnjax_direct_conv_kernel_grad: x (N,B,H,W,C), dy (N,B,OH,OW,O) -> dk (N,KH,KW,C,O)
// with y[oh,ow,o] = sum_{kh,kw,c} x[oh*sh+kh-pad_top, ow*sw+kw-pad_left, c] k[kh,kw,c,o] (zero
// outside x). O must be a multiple of 16 (checked: an error otherwise). The vectors are GCC
// vector extensions, compiled for the machine's own instruction set (-march=native).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// One vector register of floats: 16 lanes with AVX-512 (32 registers), else 8 (AVX2: 16
// registers; NEON's 128-bit registers take two per vector). The tile shapes below keep every
// accumulator in a register for the ISA compiled for.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float vec __attribute__((vector_size(4 * kLanes)));
using Tensor = ffi::Buffer<ffi::F32, 5>;  // rank 5: (N, B, H, W, C) or (N, KH, KW, C, O)

inline vec load(const float* p) {
  vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void store(float* p, vec v) { std::memcpy(p, &v, sizeof(v)); }

// Runs f(i) for i in [0, n) on the caller and the pool's threads. The caller claims work too
// and waits only for items already started, so it cannot wait on a task the pool never runs.
template <typename F>
void parallel_for(ffi::ThreadPool& pool, int64_t n, F&& f) {
  struct State {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };
  auto state = std::make_shared<State>();
  auto* fn = &f;
  auto run = [state, n, fn] {
    for (int64_t i; (i = state->next.fetch_add(1)) < n;) {
      (*fn)(i);
      state->done.fetch_add(1, std::memory_order_release);
    }
  };
  int64_t helpers = std::min<int64_t>(pool.num_threads(), n) - 1;
  for (int64_t h = 0; h < helpers; ++h) pool.Schedule(decltype(run)(run));
  run();
  while (state->done.load(std::memory_order_acquire) < n) std::this_thread::yield();
}

struct Geometry {
  int64_t n, b, h, w, c, kh, kw, o, oh, ow, pad_top, pad_left, sh, sw;
};

// One output row segment: WT columns from ow0, NO*kLanes channels from o0.
template <int WT, int NO>
void conv_tile(const Geometry& g, const float* x, const float* k, float* y, int64_t oh,
               int64_t ow0, int64_t o0) {
  vec acc[WT][NO];
  for (int i = 0; i < WT; ++i)
    for (int j = 0; j < NO; ++j) acc[i][j] = vec{};
  for (int64_t kh = 0; kh < g.kh; ++kh) {
    int64_t ih = oh * g.sh + kh - g.pad_top;
    if (ih < 0 || ih >= g.h) continue;
    const float* xrow = x + ih * g.w * g.c;
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      const float* ktap = k + (kh * g.kw + kw) * g.c * g.o + o0;
      int64_t iw0 = ow0 * g.sw + kw - g.pad_left;
      bool inside = iw0 >= 0 && iw0 + (WT - 1) * g.sw < g.w;
      for (int64_t c = 0; c < g.c; ++c) {
        vec kv[NO];
        for (int j = 0; j < NO; ++j) kv[j] = load(ktap + c * g.o + kLanes * j);
        for (int i = 0; i < WT; ++i) {
          int64_t iw = iw0 + i * g.sw;
          float s = inside || (iw >= 0 && iw < g.w) ? xrow[iw * g.c + c] : 0.f;
          for (int j = 0; j < NO; ++j) acc[i][j] += s * kv[j];
        }
      }
    }
  }
  float* yrow = y + ow0 * g.o + o0;
  for (int i = 0; i < WT; ++i)
    for (int j = 0; j < NO; ++j) store(yrow + i * g.o + kLanes * j, acc[i][j]);
}

template <int NO>
void conv_row(const Geometry& g, const float* x, const float* k, float* y, int64_t oh) {
  for (int64_t o0 = 0; o0 < g.o; o0 += kLanes * NO) {
    int64_t ow = 0;
    for (; ow + 8 <= g.ow; ow += 8) conv_tile<8, NO>(g, x, k, y, oh, ow, o0);
    for (; ow + 4 <= g.ow; ow += 4) conv_tile<4, NO>(g, x, k, y, oh, ow, o0);
    for (; ow < g.ow; ++ow) conv_tile<1, NO>(g, x, k, y, oh, ow, o0);
  }
}

// Fewer than 16 output channels (stride 1; the input gradient of narrow layers): the vectors
// run along output columns instead. The KH input rows an output row reads are first laid out channel-major
// and zero-padded (`rows`: KH x C x (blocks * kLanes + KW)), then each block of kLanes columns
// keeps O accumulators: acc[o] += k[kh, kw, c, o] * x_row[c, cols + kw].
template <int O>
void narrow_row(const Geometry& g, const float* x, const float* k, float* y, int64_t oh,
                std::vector<float>& rows) {
  const int64_t blocks = (g.ow + kLanes - 1) / kLanes;
  const int64_t span = blocks * kLanes + g.kw;
  rows.assign(g.kh * g.c * span, 0.f);
  for (int64_t kh = 0; kh < g.kh; ++kh) {
    int64_t ih = oh + kh - g.pad_top;
    if (ih < 0 || ih >= g.h) continue;
    const float* xrow = x + ih * g.w * g.c;
    for (int64_t iw = 0; iw < g.w; ++iw)
      for (int64_t c = 0; c < g.c; ++c) rows[(kh * g.c + c) * span + iw + g.pad_left] = xrow[iw * g.c + c];
  }
  for (int64_t block = 0; block < blocks; ++block) {
    vec acc[O];
    for (int o = 0; o < O; ++o) acc[o] = vec{};
    for (int64_t kh = 0; kh < g.kh; ++kh)
      for (int64_t kw = 0; kw < g.kw; ++kw)
        for (int64_t c = 0; c < g.c; ++c) {
          vec v = load(rows.data() + (kh * g.c + c) * span + block * kLanes + kw);
          const float* kv = k + ((kh * g.kw + kw) * g.c + c) * g.o;
          for (int o = 0; o < O; ++o) acc[o] += kv[o] * v;
        }
    for (int64_t i = 0; i < kLanes && block * kLanes + i < g.ow; ++i)
      for (int o = 0; o < O; ++o) y[(block * kLanes + i) * O + o] = acc[o][i];
  }
}

// narrow_row<g.o>, for 1 <= g.o <= O.
template <int O>
void narrow_row_of(const Geometry& g, const float* x, const float* k, float* y, int64_t oh,
                   std::vector<float>& rows) {
  if (g.o == O)
    narrow_row<O>(g, x, k, y, oh, rows);
  else if constexpr (O > 1)
    narrow_row_of<O - 1>(g, x, k, y, oh, rows);
}

// dk[tap] += x_row(shifted)^T dy_row for TC input channels from c0 and NO*kLanes outputs from o0.
template <int TC, int NO>
void grad_tile(const Geometry& g, const float* xrow, const float* dyrow, float* dk_tap,
               int64_t w0, int64_t w1, int64_t shift, int64_t c0, int64_t o0) {
  vec acc[TC][NO];
  for (int c = 0; c < TC; ++c)
    for (int j = 0; j < NO; ++j) acc[c][j] = load(dk_tap + (c0 + c) * g.o + o0 + kLanes * j);
  for (int64_t w = w0; w < w1; ++w) {
    vec d[NO];
    for (int j = 0; j < NO; ++j) d[j] = load(dyrow + w * g.o + o0 + kLanes * j);
    const float* xv = xrow + (w * g.sw + shift) * g.c + c0;
    for (int c = 0; c < TC; ++c)
      for (int j = 0; j < NO; ++j) acc[c][j] += xv[c] * d[j];
  }
  for (int c = 0; c < TC; ++c)
    for (int j = 0; j < NO; ++j) store(dk_tap + (c0 + c) * g.o + o0 + kLanes * j, acc[c][j]);
}

template <int TC, int NO>
void grad_taps(const Geometry& g, const float* xrow, const float* dyrow, float* dk_tap,
               int64_t w0, int64_t w1, int64_t shift) {
  for (int64_t o0 = 0; o0 < g.o; o0 += kLanes * NO) {
    int64_t c0 = 0;
    for (; c0 + TC <= g.c; c0 += TC) grad_tile<TC, NO>(g, xrow, dyrow, dk_tap, w0, w1, shift, c0, o0);
    for (; c0 < g.c; ++c0) grad_tile<1, NO>(g, xrow, dyrow, dk_tap, w0, w1, shift, c0, o0);
  }
}

// Adds the kernel gradient of images [b0, b1) of one group to dk (KH,KW,C,O). Each image is
// summed apart in `image_sum` and then added, so no float sum runs over more than one image's
// positions plus the image count (fp32 error near XLA's instead of growing with the batch).
void kernel_grad_images(const Geometry& g, const float* x, const float* dy, float* dk,
                        int64_t b0, int64_t b1) {
  const int64_t taps = g.kh * g.kw * g.c * g.o;
  std::vector<float> image_sum(taps);
  for (int64_t b = b0; b < b1; ++b) {
    std::fill(image_sum.begin(), image_sum.end(), 0.f);
    for (int64_t oh = 0; oh < g.oh; ++oh) {
      const float* dyrow = dy + (b * g.oh + oh) * g.ow * g.o;
      for (int64_t kh = 0; kh < g.kh; ++kh) {
        int64_t ih = oh * g.sh + kh - g.pad_top;
        if (ih < 0 || ih >= g.h) continue;
        const float* xrow = x + (b * g.h + ih) * g.w * g.c;
        for (int64_t kw = 0; kw < g.kw; ++kw) {
          int64_t shift = kw - g.pad_left;
          // Output columns w whose input column w * sw + shift lies in [0, W).
          int64_t w0 = shift < 0 ? (-shift + g.sw - 1) / g.sw : 0;
          int64_t w1 = std::min<int64_t>(g.ow, (g.w - shift + g.sw - 1) / g.sw);
          if (w1 <= w0) continue;
          float* tap = image_sum.data() + (kh * g.kw + kw) * g.c * g.o;
          if (kLanes == 8)
            grad_taps<8, 1>(g, xrow, dyrow, tap, w0, w1, shift);
          else if (g.o % 32 == 0)
            grad_taps<8, 2>(g, xrow, dyrow, tap, w0, w1, shift);
          else
            grad_taps<16, 1>(g, xrow, dyrow, tap, w0, w1, shift);
        }
      }
    }
    for (int64_t t = 0; t < taps; ++t) dk[t] += image_sum[t];
  }
}

Geometry geometry(ffi::Span<const int64_t> x, ffi::Span<const int64_t> k_or_dk,
                  ffi::Span<const int64_t> y_or_dy, int64_t pad_top, int64_t pad_left,
                  int64_t stride_h, int64_t stride_w) {
  return Geometry{x[0],       x[1],       x[2],       x[3],       x[4],    k_or_dk[1],
                  k_or_dk[2], k_or_dk[4], y_or_dy[2], y_or_dy[3], pad_top, pad_left,
                  stride_h,   stride_w};
}

ffi::Error DirectConv(ffi::ThreadPool pool, Tensor x, Tensor k,
                      ffi::ResultBuffer<ffi::F32, 5> y, int64_t pad_top, int64_t pad_left,
                      int64_t stride_h, int64_t stride_w) {
  Geometry g = geometry(x.dimensions(), k.dimensions(), y->dimensions(), pad_top, pad_left,
                        stride_h, stride_w);
  const bool narrow = g.o < 16;  // any vector width: 8-lane builds run them too
  if (narrow && (g.sh != 1 || g.sw != 1))
    return ffi::Error::InvalidArgument("fewer than 16 output channels need stride 1");
  if (!narrow && g.o % 16 != 0)
    return ffi::Error::InvalidArgument("output channels must be below 16 or a multiple of 16");
  const float* xp = x.typed_data();
  const float* kp = k.typed_data();
  float* yp = y->typed_data();
  int64_t rows = g.n * g.b * g.oh;
  int64_t chunks = std::min<int64_t>(rows, 8 * std::max<int64_t>(1, pool.num_threads()));
  auto chunk = [&](int64_t i) {
    std::vector<float> scratch;
    for (int64_t r = rows * i / chunks; r < rows * (i + 1) / chunks; ++r) {
      int64_t group = r / (g.b * g.oh), image = r / g.oh, oh = r % g.oh;
      const float* xi = xp + image * g.h * g.w * g.c;
      const float* kg = kp + group * g.kh * g.kw * g.c * g.o;
      float* yr = yp + r * g.ow * g.o;
      if (narrow)
        narrow_row_of<15>(g, xi, kg, yr, oh, scratch);
      else if (kLanes == 16 && g.o % 32 == 0)
        conv_row<2>(g, xi, kg, yr, oh);
      else
        conv_row<1>(g, xi, kg, yr, oh);
    }
  };
  parallel_for(pool, chunks, chunk);
  return ffi::Error::Success();
}

ffi::Error DirectConvKernelGrad(ffi::ThreadPool pool, Tensor x,
                                Tensor dy, ffi::ResultBuffer<ffi::F32, 5> dk,
                                int64_t pad_top, int64_t pad_left, int64_t stride_h,
                                int64_t stride_w) {
  Geometry g = geometry(x.dimensions(), dk->dimensions(), dy.dimensions(), pad_top, pad_left,
                        stride_h, stride_w);
  if (g.o % 16 != 0) return ffi::Error::InvalidArgument("output channels must be a multiple of 16");
  const int64_t taps = g.kh * g.kw * g.c * g.o;
  const int64_t per_group = std::min<int64_t>(g.b, std::max<int64_t>(1, pool.num_threads()));
  std::vector<float> partial(g.n * per_group * taps, 0.f);
  auto chunk = [&](int64_t i) {
    int64_t group = i / per_group, part = i % per_group;
    int64_t b0 = g.b * part / per_group, b1 = g.b * (part + 1) / per_group;
    kernel_grad_images(g, x.typed_data() + group * g.b * g.h * g.w * g.c,
                       dy.typed_data() + group * g.b * g.oh * g.ow * g.o,
                       partial.data() + i * taps, b0, b1);
  };
  parallel_for(pool, g.n * per_group, chunk);
  float* out = dk->typed_data();
  for (int64_t group = 0; group < g.n; ++group) {
    float* dst = out + group * taps;
    const float* src = partial.data() + group * per_group * taps;
    std::copy(src, src + taps, dst);
    for (int64_t p = 1; p < per_group; ++p)
      for (int64_t t = 0; t < taps; ++t) dst[t] += src[p * taps + t];
  }
  return ffi::Error::Success();
}

}  // namespace

// Both handlers take two rank-5 float32 operands, return one, and read the low pads and strides.
static auto Binding() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .Arg<Tensor>()
      .Arg<Tensor>()
      .Ret<Tensor>()
      .Attr<int64_t>("pad_top")
      .Attr<int64_t>("pad_left")
      .Attr<int64_t>("stride_h")
      .Attr<int64_t>("stride_w");
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(cnnjax_direct_conv, DirectConv, Binding());
XLA_FFI_DEFINE_HANDLER_SYMBOL(cnnjax_direct_conv_kernel_grad, DirectConvKernelGrad, Binding());
