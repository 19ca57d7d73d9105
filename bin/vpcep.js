#!/usr/bin/env node
import { main } from '../dist/cli/vpcep.js';

await main(process.argv);
