#!/usr/bin/env node
// Runs the built CLI (dist/) in images; in the workspace, where nothing is built, the TypeScript
// source through tsx.
import { launch } from './launch.js';

process.exitCode = await launch('cli-migrate', 'runMigrateCli');
