// The idle collector's policy, one tick at a time: a full collection only after enough sockets
// opened, and only on a tick with nothing received since the one before.
import { describe, expect, test } from "bun:test";
import { idleCollector } from "../../src/http/idle-collect";

function collector(after: number, open = 0) {
  const state = { opened: 0, frames: 0, open, collections: 0 };
  const policy = idleCollector({
    after,
    activity: () => ({ opened: state.opened, frames: state.frames }),
    open: () => state.open,
    collect: () => void state.collections++,
  });
  return { state, tick: policy.tick };
}

describe("idle collector", () => {
  test("collects once a tick passes quiet after `after` sockets opened, and not again until as many more have", () => {
    const { state, tick } = collector(100);
    state.opened = 99;
    expect(tick()).toBe(false); // activity since the last tick
    expect(tick()).toBe(false); // quiet, but only 99 opened
    state.opened = 100;
    expect(tick()).toBe(false);
    expect(tick()).toBe(true);
    expect(tick()).toBe(false);
    state.opened = 199;
    tick();
    expect(tick()).toBe(false);
    state.opened = 200;
    tick();
    expect(tick()).toBe(true);
    expect(state.collections).toBe(2);
  });

  test("never while frames keep arriving", () => {
    const { state, tick } = collector(10);
    state.opened = 50;
    for (let i = 0; i < 20; i++) {
      state.frames++;
      expect(tick()).toBe(false);
    }
    expect(tick()).toBe(true);
  });

  test("waits for at least half as many sockets opened as are open: its cost per socket stays bounded", () => {
    const { state, tick } = collector(100, 1000);
    state.opened = 400;
    tick();
    expect(tick()).toBe(false);
    state.opened = 500;
    tick();
    expect(tick()).toBe(true);
  });

  test("0 turns it off", () => {
    const { state, tick } = collector(0);
    state.opened = 10_000;
    tick();
    expect(tick()).toBe(false);
    expect(state.collections).toBe(0);
  });
});
