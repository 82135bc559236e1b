// Starts MLflow and Toxiproxy containers with the networking named in argv[2], prints one line when
// they are up, and then waits, so that a test can kill this process and watch what is left behind.
import { type ContainerNetworking, startMlflowWith } from '@registry/testkit';

const networking = process.argv[2] as ContainerNetworking;
const mlflow = await startMlflowWith('containers', { networking });
process.stdout.write(`${JSON.stringify({ ready: true, url: mlflow.url })}\n`);
// Bounded: the test kills this process within seconds; if it never does, it stops by itself.
setTimeout(() => void mlflow.stop().then(() => process.exit(3)), 300_000);
