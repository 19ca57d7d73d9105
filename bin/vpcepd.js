#!/usr/bin/env -S node --single-threaded-gc
import { main } from '../dist/vpcepd.js';

await main(process.argv.slice(2));
