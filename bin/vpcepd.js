#!/usr/bin/env -S node --single-threaded-gc
import { main } from '../dist/bundle/vpcepd.mjs';

await main(process.argv.slice(2));
