/**
 * CDK entry (`cdk.json` runs `node infra/cdk/bin/app.ts` with Node 24 type stripping).
 * `-c target=local` builds the LocalStack variant; see "Deploy" in README.md.
 */
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app.ts';

const app = new App();
buildApp(app);
app.synth();
