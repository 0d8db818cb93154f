// zod for the whole code base: zod/mini, with English messages.
// zod/mini, not classic zod: the same schemas and parser, with functions (z.optional(s),
// s.check(z.minLength(1))) instead of methods. Classic zod hangs every method on every schema
// class, so it cannot be tree-shaken: loading it took ~7 ms of the binary's start-up, zod/mini ~2.
import { en } from "zod/locales";
import * as z from "zod/mini";

// zod/mini's messages stay generic ("Invalid input") until a locale is chosen.
z.config(en());

export { z };
