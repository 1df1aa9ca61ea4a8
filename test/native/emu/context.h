// Fiber context switches of the CPU harness (emulator.cc):
// a hand-written stack switch on x86-64, ucontext elsewhere.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace fl_emu {
namespace {

// Context switch: save the callee-saved registers on the current stack, store its pointer in
// *save, load `next` and pop its registers.  ucontext's swapcontext would make a system call
// (the signal mask) at every switch, which made the checks ten times slower.
#if defined(__x86_64__)
extern "C" void fl_emu_switch(void** save, void* next);
asm(R"(
  .text
  .globl fl_emu_switch
  .type fl_emu_switch, @function
fl_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fl_emu_switch, .-fl_emu_switch
)");
struct Context {
  void* sp = nullptr;
};
void startContext(Context& c, char* stack, size_t bytes, void (*entry)()) {
  // Six registers to pop, then `entry` as the return address; `entry` starts as if called, with
  // the stack pointer 8 bytes below a 16-byte boundary.
  void** top = reinterpret_cast<void**>((reinterpret_cast<uintptr_t>(stack + bytes) & ~uintptr_t{15}) - 8 * sizeof(void*));
  for (int i = 0; i < 6; ++i) top[i] = nullptr;
  top[6] = reinterpret_cast<void*>(entry);
  c.sp = top;
}
void switchContext(Context& from, Context& to) { fl_emu_switch(&from.sp, to.sp); }
#else
struct Context {
  ucontext_t uc;
};
void startContext(Context& c, char* stack, size_t bytes, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = bytes;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
void switchContext(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
#endif

}  // namespace
}  // namespace fl_emu
