;; Standard normals for the noise families, four xoshiro128** streams at a time (WebAssembly SIMD).
;;
;; The copy's generator is four xoshiro128** states, one per lane, held at bytes 0..63 as s0, s1, s2, s3 (each a
;; v128 of the four lanes' word). One step of all four lanes gives four uint32; two steps give (r1, r2) per lane,
;; and Box-Muller turns each pair into two normals:
;;
;;   u1 = float32(r1) * 2^-32 + 2^-33          in (0, 1]      (float32(r1): r1 rounded to float32)
;;   R  = sqrt(-2 ln u1)
;;   o  = r2 >> 29 (octant), t = (float32(r2 & (2^29 - 1)) + 0.5) * 2^-29, phi = t * pi/4
;;   theta = o * pi/4 + phi (o even) or (o + 1) * pi/4 - phi (o odd)
;;   z0 = R cos(theta), z1 = R sin(theta)
;;
;; ln, sin and cos are float32 polynomials (ln: 2 atanh(s) to s^9 after splitting off the exponent; sin, cos:
;; Taylor series on [0, pi/4] to phi^9 and phi^10), every operation a float32 IEEE operation without fused
;; multiply-adds, so the bits are the same on every engine (the JavaScript twin in simd-normals.ts gives them
;; too, operation for operation with Math.fround). Iteration i writes normals 8i..8i+3 (z0 of lanes 0..3) and
;; 8i+4..8i+7 (z1 of lanes 0..3).
(module
  (memory (export "memory") 1)

  ;; normals(out, x, iterations, m, a, apply): 8 * iterations normals z from the state at bytes 0..63 (which moves
  ;; on), written at byte offset out as they are (apply = 0) or as x * (1 + m z) + a z with x read at byte offset x
  ;; (apply = 1: the noise families' copies, rendered in the same pass).
  (func (export "normals") (param $out i32) (param $x i32) (param $iterations i32) (param $mul f32) (param $add f32)
    (param $apply i32)
    (local $mv v128) (local $av v128) (local $z0 v128) (local $z1 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t v128)
    (local $r1 v128) (local $r2 v128)
    (local $u v128) (local $e v128) (local $m v128) (local $big v128) (local $s v128) (local $ss v128)
    (local $p v128) (local $ef v128) (local $radius v128)
    (local $o v128) (local $phi v128) (local $q v128) (local $sin v128) (local $cos v128) (local $swap v128)
    (local $c v128)
    (local.set $mv (f32x4.splat (local.get $mul)))
    (local.set $av (f32x4.splat (local.get $add)))
    (local.set $s0 (v128.load (i32.const 0)))
    (local.set $s1 (v128.load (i32.const 16)))
    (local.set $s2 (v128.load (i32.const 32)))
    (local.set $s3 (v128.load (i32.const 48)))
    (block $done
      (br_if $done (i32.eqz (local.get $iterations)))
      (loop $next
        ;; r1: one xoshiro128** step of every lane: rotl(s1 * 5, 7) * 9
        (local.set $t (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
        (local.set $r1 (i32x4.mul
          (v128.or (i32x4.shl (local.get $t) (i32.const 7)) (i32x4.shr_u (local.get $t) (i32.const 25)))
          (v128.const i32x4 9 9 9 9)))
        (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
        (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
        (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
        (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
        (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))
        ;; r2: the next step
        (local.set $t (i32x4.mul (local.get $s1) (v128.const i32x4 5 5 5 5)))
        (local.set $r2 (i32x4.mul
          (v128.or (i32x4.shl (local.get $t) (i32.const 7)) (i32x4.shr_u (local.get $t) (i32.const 25)))
          (v128.const i32x4 9 9 9 9)))
        (local.set $t (i32x4.shl (local.get $s1) (i32.const 9)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $s0)))
        (local.set $s3 (v128.xor (local.get $s3) (local.get $s1)))
        (local.set $s1 (v128.xor (local.get $s1) (local.get $s2)))
        (local.set $s0 (v128.xor (local.get $s0) (local.get $s3)))
        (local.set $s2 (v128.xor (local.get $s2) (local.get $t)))
        (local.set $s3 (v128.or (i32x4.shl (local.get $s3) (i32.const 11)) (i32x4.shr_u (local.get $s3) (i32.const 21))))

        ;; u1 = float32(r1) * 2^-32 + 2^-33
        (local.set $u (f32x4.add
          (f32x4.mul (f32x4.convert_i32x4_u (local.get $r1)) (v128.const f32x4 0x1p-32 0x1p-32 0x1p-32 0x1p-32))
          (v128.const f32x4 0x1p-33 0x1p-33 0x1p-33 0x1p-33)))
        ;; ln u1 = e ln 2 + ln m, m in (sqrt(1/2), sqrt(2)]
        (local.set $e (i32x4.sub (i32x4.shr_u (local.get $u) (i32.const 23)) (v128.const i32x4 127 127 127 127)))
        (local.set $m (v128.or
          (v128.and (local.get $u) (v128.const i32x4 0x007fffff 0x007fffff 0x007fffff 0x007fffff))
          (v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000)))
        (local.set $big (f32x4.gt (local.get $m) (v128.const f32x4 1.41421353816986083984375 1.41421353816986083984375 1.41421353816986083984375 1.41421353816986083984375)))
        (local.set $m (v128.bitselect
          (f32x4.mul (local.get $m) (v128.const f32x4 0.5 0.5 0.5 0.5)) (local.get $m) (local.get $big)))
        (local.set $e (i32x4.sub (local.get $e) (local.get $big)))
        ;; s = (m - 1) / (m + 1); ln m = 2 atanh s = s * (2 + s^2 (2/3 + s^2 (2/5 + s^2 (2/7 + s^2 2/9))))
        (local.set $s (f32x4.div
          (f32x4.sub (local.get $m) (v128.const f32x4 1 1 1 1))
          (f32x4.add (local.get $m) (v128.const f32x4 1 1 1 1))))
        (local.set $ss (f32x4.mul (local.get $s) (local.get $s)))
        (local.set $p (v128.const f32x4 0x1.c71c72p-3 0x1.c71c72p-3 0x1.c71c72p-3 0x1.c71c72p-3))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $ss)) (v128.const f32x4 0x1.24924ap-2 0x1.24924ap-2 0x1.24924ap-2 0x1.24924ap-2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $ss)) (v128.const f32x4 0x1.99999ap-2 0x1.99999ap-2 0x1.99999ap-2 0x1.99999ap-2)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $ss)) (v128.const f32x4 0x1.555556p-1 0x1.555556p-1 0x1.555556p-1 0x1.555556p-1)))
        (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $ss)) (v128.const f32x4 2 2 2 2)))
        (local.set $ef (f32x4.convert_i32x4_s (local.get $e)))
        ;; ln u1 = e ln2_hi + (s p + e ln2_lo)
        (local.set $radius (f32x4.add
          (f32x4.mul (local.get $ef) (v128.const f32x4 0x1.62e4p-1 0x1.62e4p-1 0x1.62e4p-1 0x1.62e4p-1))
          (f32x4.add
            (f32x4.mul (local.get $s) (local.get $p))
            (f32x4.mul (local.get $ef) (v128.const f32x4 0x1.7f7d1cp-20 0x1.7f7d1cp-20 0x1.7f7d1cp-20 0x1.7f7d1cp-20)))))
        (local.set $radius (f32x4.sqrt (f32x4.mul (local.get $radius) (v128.const f32x4 -2 -2 -2 -2))))

        ;; theta from r2: octant o and phi in (0, pi/4]
        (local.set $o (i32x4.shr_u (local.get $r2) (i32.const 29)))
        (local.set $phi (f32x4.mul
          (f32x4.add
            (f32x4.convert_i32x4_s (v128.and (local.get $r2) (v128.const i32x4 0x1fffffff 0x1fffffff 0x1fffffff 0x1fffffff)))
            (v128.const f32x4 0.5 0.5 0.5 0.5))
          (v128.const f32x4 0x1.921fb6p-30 0x1.921fb6p-30 0x1.921fb6p-30 0x1.921fb6p-30)))
        (local.set $q (f32x4.mul (local.get $phi) (local.get $phi)))
        ;; sin phi = phi (1 + q (-1/6 + q (1/120 + q (-1/5040 + q / 362880))))
        (local.set $sin (f32x4.add (f32x4.mul (local.get $q) (v128.const f32x4 0x1.71de3ap-19 0x1.71de3ap-19 0x1.71de3ap-19 0x1.71de3ap-19)) (v128.const f32x4 -0x1.a01a02p-13 -0x1.a01a02p-13 -0x1.a01a02p-13 -0x1.a01a02p-13)))
        (local.set $sin (f32x4.add (f32x4.mul (local.get $sin) (local.get $q)) (v128.const f32x4 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7 0x1.111112p-7)))
        (local.set $sin (f32x4.add (f32x4.mul (local.get $sin) (local.get $q)) (v128.const f32x4 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3)))
        (local.set $sin (f32x4.add (f32x4.mul (local.get $sin) (local.get $q)) (v128.const f32x4 1 1 1 1)))
        (local.set $sin (f32x4.mul (local.get $sin) (local.get $phi)))
        ;; cos phi = 1 + q (-1/2 + q (1/24 + q (-1/720 + q (1/40320 - q / 3628800))))
        (local.set $cos (f32x4.add (f32x4.mul (local.get $q) (v128.const f32x4 -0x1.27e4fcp-22 -0x1.27e4fcp-22 -0x1.27e4fcp-22 -0x1.27e4fcp-22)) (v128.const f32x4 0x1.a01a02p-16 0x1.a01a02p-16 0x1.a01a02p-16 0x1.a01a02p-16)))
        (local.set $cos (f32x4.add (f32x4.mul (local.get $cos) (local.get $q)) (v128.const f32x4 -0x1.6c16c2p-10 -0x1.6c16c2p-10 -0x1.6c16c2p-10 -0x1.6c16c2p-10)))
        (local.set $cos (f32x4.add (f32x4.mul (local.get $cos) (local.get $q)) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)))
        (local.set $cos (f32x4.add (f32x4.mul (local.get $cos) (local.get $q)) (v128.const f32x4 -0.5 -0.5 -0.5 -0.5)))
        (local.set $cos (f32x4.add (f32x4.mul (local.get $cos) (local.get $q)) (v128.const f32x4 1 1 1 1)))
        ;; octants 1, 2, 5, 6 swap sin and cos; 2..5 negate cos; 4..7 negate sin
        (local.set $swap (i32x4.shr_s
          (i32x4.shl (v128.xor (local.get $o) (i32x4.shr_u (local.get $o) (i32.const 1))) (i32.const 31))
          (i32.const 31)))
        (local.set $c (v128.bitselect (local.get $sin) (local.get $cos) (local.get $swap)))
        (local.set $sin (v128.bitselect (local.get $cos) (local.get $sin) (local.get $swap)))
        (local.set $cos (v128.xor (local.get $c)
          (i32x4.shl (i32x4.shr_u (i32x4.add (local.get $o) (v128.const i32x4 2 2 2 2)) (i32.const 2)) (i32.const 31))))
        (local.set $sin (v128.xor (local.get $sin) (i32x4.shl (i32x4.shr_u (local.get $o) (i32.const 2)) (i32.const 31))))

        (local.set $z0 (f32x4.mul (local.get $radius) (local.get $cos)))
        (local.set $z1 (f32x4.mul (local.get $radius) (local.get $sin)))
        (if (local.get $apply)
          (then
            (local.set $z0 (f32x4.add
              (f32x4.mul (v128.load (local.get $x))
                (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $mv) (local.get $z0))))
              (f32x4.mul (local.get $av) (local.get $z0))))
            (local.set $z1 (f32x4.add
              (f32x4.mul (v128.load offset=16 (local.get $x))
                (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $mv) (local.get $z1))))
              (f32x4.mul (local.get $av) (local.get $z1))))
            (local.set $x (i32.add (local.get $x) (i32.const 32)))))
        (v128.store (local.get $out) (local.get $z0))
        (v128.store offset=16 (local.get $out) (local.get $z1))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (local.set $iterations (i32.sub (local.get $iterations) (i32.const 1)))
        (br_if $next (local.get $iterations))))
    (v128.store (i32.const 0) (local.get $s0))
    (v128.store (i32.const 16) (local.get $s1))
    (v128.store (i32.const 32) (local.get $s2))
    (v128.store (i32.const 48) (local.get $s3))))
