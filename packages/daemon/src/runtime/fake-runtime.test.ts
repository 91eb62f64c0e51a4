// The runtime contract held against FakeRuntime, so the unit tests of services that run on it
// test against something that behaves like crun where services can tell.
import { newId } from "@sbx-sh/protocol";
import { runtimeConformance } from "./runtime.conformance.js";
import { FAKE_BASE, FakeRuntime } from "./testing/fake-runtime.js";

runtimeConformance("FakeRuntime", async () => ({
  runtime: new FakeRuntime(),
  lowers: [FAKE_BASE],
  newId: () => newId("sb"),
}));
