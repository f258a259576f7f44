#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader, so a fresh clone needs no build step.
import { register } from "tsx/esm/api"
import { fileURLToPath } from "node:url"

register()
await import(fileURLToPath(new URL("../src/app/main.ts", import.meta.url)))
