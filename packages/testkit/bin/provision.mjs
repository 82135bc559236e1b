#!/usr/bin/env node
// Installs the real test dependencies that are missing (idempotent): PostgreSQL, Redis and Python's venv
// (Debian packages), MLflow into a project-local venv, Toxiproxy built with `go install`. Run by `npm run setup` and before the suites that need them.
import { provisionAll } from '../dist/provision.js';

provisionAll().catch((error) => {
  console.error(`provision failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
