;; gantry's own elementwise loops, compiled to wasm SIMD128 and run on the tfjs wasm backend's
;; heap (the memory is imported: the loops read and write tensors where tfjs keeps them).
;; Every operation is one IEEE float32 operation (f32x4 mul/add/sub/div/sqrt are correctly rounded,
;; and wasm SIMD has no fused multiply-add), in the order the op-by-op kernels apply them, so the
;; results are bit-identical to those kernels.
;;
;; Regenerate loops-wasm.ts after editing: npx tsx scripts/build-wasm.ts
;; (a unit test fails when the two differ).
(module
  (import "env" "memory" (memory 0))

  ;; One Adam update of n float32 elements (pointers are byte offsets, any alignment):
  ;;   m' = b1*m + c1*g        c1 = 1 - b1
  ;;   v' = b2*v + c2*(g*g)    c2 = 1 - b2
  ;;   p' = p - (alpha*m') / (sqrt(v') + eps)
  (func (export "adam")
    (param $n i32) (param $p i32) (param $m i32) (param $v i32) (param $g i32)
    (param $po i32) (param $mo i32) (param $vo i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32) (param $alpha f32) (param $eps f32)
    (local $i i32) (local $end4 i32) (local $off i32)
    (local $gv v128) (local $mn v128) (local $vn v128)
    (local $B1 v128) (local $C1 v128) (local $B2 v128) (local $C2 v128) (local $A v128) (local $E v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $B1 (f32x4.splat (local.get $b1)))
    (local.set $C1 (f32x4.splat (local.get $c1)))
    (local.set $B2 (f32x4.splat (local.get $b2)))
    (local.set $C2 (f32x4.splat (local.get $c2)))
    (local.set $A (f32x4.splat (local.get $alpha)))
    (local.set $E (f32x4.splat (local.get $eps)))
    (local.set $end4 (i32.and (local.get $n) (i32.const -4)))
    ;; four elements at a time
    (block $done4
      (loop $next4
        (br_if $done4 (i32.ge_u (local.get $i) (local.get $end4)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $off))))
        (local.set $mn (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $off))) (local.get $B1))
          (f32x4.mul (local.get $gv) (local.get $C1))))
        (local.set $vn (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $off))) (local.get $B2))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $C2))))
        (v128.store (i32.add (local.get $mo) (local.get $off)) (local.get $mn))
        (v128.store (i32.add (local.get $vo) (local.get $off)) (local.get $vn))
        (v128.store (i32.add (local.get $po) (local.get $off))
          (f32x4.sub
            (v128.load (i32.add (local.get $p) (local.get $off)))
            (f32x4.div
              (f32x4.mul (local.get $mn) (local.get $A))
              (f32x4.add (f32x4.sqrt (local.get $vn)) (local.get $E)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next4)))
    ;; the last n mod 4 elements
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $off))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $off))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $off))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $mo) (local.get $off)) (local.get $ms))
        (f32.store (i32.add (local.get $vo) (local.get $off)) (local.get $vs))
        (f32.store (i32.add (local.get $po) (local.get $off))
          (f32.sub
            (f32.load (i32.add (local.get $p) (local.get $off)))
            (f32.div
              (f32.mul (local.get $ms) (local.get $alpha))
              (f32.add (f32.sqrt (local.get $vs)) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
)
