;; CRC-64/XZ (reflected ECMA-182 polynomial), slicing-by-16 over i64 tables.
;; Memory: 16 tables x 256 x i64 at 0 (32 KiB), the register at 32768, input from 65536.
(module
  (memory (export "memory") 17)
  (global $POLY i64 (i64.const 0xc96c5795d7870f42))

  ;; Fills the tables: T0[i] is the CRC step of byte i, Tk[i] = (T(k-1)[i] >> 8) ^ T0[T(k-1)[i] & 0xff].
  (func (export "init")
    (local $i i32) (local $bit i32) (local $c i64) (local $k i32) (local $p i64)
    (loop $bytes
      (local.set $c (i64.extend_i32_u (local.get $i)))
      (local.set $bit (i32.const 0))
      (loop $bits
        (local.set $c
          (select
            (i64.xor (i64.shr_u (local.get $c) (i64.const 1)) (global.get $POLY))
            (i64.shr_u (local.get $c) (i64.const 1))
            (i32.wrap_i64 (i64.and (local.get $c) (i64.const 1)))))
        (local.set $bit (i32.add (local.get $bit) (i32.const 1)))
        (br_if $bits (i32.lt_u (local.get $bit) (i32.const 8))))
      (i64.store (i32.shl (local.get $i) (i32.const 3)) (local.get $c))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $bytes (i32.lt_u (local.get $i) (i32.const 256))))
    ;; $i walks entries 256..4095 of the table array; each derives from the one 256 before.
    (loop $rest
      (local.set $p (i64.load (i32.shl (i32.sub (local.get $i) (i32.const 256)) (i32.const 3))))
      (i64.store (i32.shl (local.get $i) (i32.const 3))
        (i64.xor (i64.shr_u (local.get $p) (i64.const 8))
          (i64.load (i32.shl (i32.wrap_i64 (i64.and (local.get $p) (i64.const 0xff))) (i32.const 3)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $rest (i32.lt_u (local.get $i) (i32.const 4096)))))

  ;; Feeds bytes [ptr, ptr + len) into the register at 32768 (pre-inversion).
  (func (export "update") (param $ptr i32) (param $len i32)
    (local $c i64) (local $x i64) (local $end i32)
    (local.set $c (i64.load (i32.const 32768)))
    (local.set $end (i32.add (local.get $ptr) (i32.and (local.get $len) (i32.const -16))))
    (if (i32.lt_u (local.get $ptr) (local.get $end))
      (then
        (loop $steps
          (local.set $c (i64.xor (local.get $c) (i64.load (local.get $ptr))))
          (local.set $x (i64.load offset=8 (local.get $ptr)))
          (local.set $c
            (i64.xor
              (i64.xor
                (i64.xor
                  (i64.xor
                    (i64.load offset=30720 (i32.shl (i32.and (i32.wrap_i64 (local.get $c)) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=28672 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 8))) (i32.const 0xff)) (i32.const 3))))
                  (i64.xor
                    (i64.load offset=26624 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 16))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=24576 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 24))) (i32.const 0xff)) (i32.const 3)))))
                (i64.xor
                  (i64.xor
                    (i64.load offset=22528 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 32))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=20480 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 40))) (i32.const 0xff)) (i32.const 3))))
                  (i64.xor
                    (i64.load offset=18432 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 48))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=16384 (i32.shl (i32.wrap_i64 (i64.shr_u (local.get $c) (i64.const 56))) (i32.const 3))))))
              (i64.xor
                (i64.xor
                  (i64.xor
                    (i64.load offset=14336 (i32.shl (i32.and (i32.wrap_i64 (local.get $x)) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=12288 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 8))) (i32.const 0xff)) (i32.const 3))))
                  (i64.xor
                    (i64.load offset=10240 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 16))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=8192 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 24))) (i32.const 0xff)) (i32.const 3)))))
                (i64.xor
                  (i64.xor
                    (i64.load offset=6144 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 32))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load offset=4096 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 40))) (i32.const 0xff)) (i32.const 3))))
                  (i64.xor
                    (i64.load offset=2048 (i32.shl (i32.and (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 48))) (i32.const 0xff)) (i32.const 3)))
                    (i64.load (i32.shl (i32.wrap_i64 (i64.shr_u (local.get $x) (i64.const 56))) (i32.const 3))))))))
          (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
          (br_if $steps (i32.lt_u (local.get $ptr) (local.get $end))))))
    ;; The last 0..15 bytes one at a time.
    (local.set $end (i32.add (local.get $end) (i32.and (local.get $len) (i32.const 15))))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $ptr) (local.get $end)))
        (local.set $c
          (i64.xor (i64.shr_u (local.get $c) (i64.const 8))
            (i64.load (i32.shl
              (i32.and (i32.xor (i32.wrap_i64 (local.get $c)) (i32.load8_u (local.get $ptr))) (i32.const 0xff))
              (i32.const 3)))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (br $tail)))
    (i64.store (i32.const 32768) (local.get $c)))
)
