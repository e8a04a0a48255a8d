;; ⟨q, row⟩ in float32 with SIMD, for HnswGraph's search (src/vectors/index/simd.ts holds these bytes; test/unit/vectors/index/simd.test.ts checks they are this file compiled).
;; dot(q, row, bytes): q and row are byte offsets into the imported memory,
;; bytes = 4 × dims. Two 4-lane accumulators over 32-byte steps, then one
;; 16-byte step, then the last floats one by one.
(module
  (import "e" "m" (memory 1))
  (func (export "dot") (param $q i32) (param $r i32) (param $bytes i32) (result f32)
    (local $a v128) (local $b v128) (local $i i32) (local $end32 i32) (local $s f32)
    (local.set $end32 (i32.and (local.get $bytes) (i32.const -32)))
    (block $done32
      (loop $step32
        (br_if $done32 (i32.ge_u (local.get $i) (local.get $end32)))
        (local.set $a (f32x4.add (local.get $a)
          (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $i)))
                     (v128.load (i32.add (local.get $r) (local.get $i))))))
        (local.set $b (f32x4.add (local.get $b)
          (f32x4.mul (v128.load offset=16 (i32.add (local.get $q) (local.get $i)))
                     (v128.load offset=16 (i32.add (local.get $r) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $step32)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 16)) (local.get $bytes))
      (then
        (local.set $a (f32x4.add (local.get $a)
          (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $i)))
                     (v128.load (i32.add (local.get $r) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))))
    (local.set $a (f32x4.add (local.get $a) (local.get $b)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
      (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $s (f32.add (local.get $s)
          (f32.mul (f32.load (i32.add (local.get $q) (local.get $i)))
                   (f32.load (i32.add (local.get $r) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $step)))
    (local.get $s)))
