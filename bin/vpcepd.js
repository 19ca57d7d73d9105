#!/usr/bin/env node
import { main } from '../dist/vpcepd.js';

await main(process.argv.slice(2));
