/**
 * The local Kafka broker's runtime: Java 17+ and the broker jars, fetched from Maven Central with
 * services/kafka/pom.xml into .local/kafka/libs (once per pom), and the JVM options it runs with.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LOCAL, type LineLog, ROOT, readText, rel, run, requireTool, ServicesError, seconds } from './process.ts';

const LIBS = join(LOCAL, 'kafka', 'libs');
// Written after a complete, checked copy; holds the pom's hash so a changed pom re-fetches.
const LIBS_STAMP = join(LIBS, '.complete');
const POM = join(ROOT, 'services', 'kafka', 'pom.xml');
const LOG4J = join(ROOT, 'services', 'kafka', 'log4j2.properties');

/** The broker's classpath (every jar of the libs folder). */
export const classpath = `${LIBS}/*`;

/** Points log4j2 at the project's quiet broker logging configuration. */
export const log4jOption = `-Dlog4j2.configurationFile=${LOG4J}`;

/**
 * JVM options of the broker. The heap is fixed: without -Xmx the JVM would size it from the machine's memory.
 * G1 settings as in Kafka's own bin/kafka-run-class.sh.
 */
export function brokerJvmOptions(heapMb: number): string[] {
  return [
    `-Xms${heapMb}m`,
    `-Xmx${heapMb}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    log4jOption,
  ];
}

export async function requireJava(): Promise<void> {
  const result = await run('java', ['-version']);
  if (result.error !== undefined) {
    throw new ServicesError('java not found: the local Kafka broker needs Java 17+ (apt-get install openjdk-17-jre-headless)');
  }
  const [, first, second] = /version "(\d+)(?:\.(\d+))?/.exec(result.output) ?? [];
  const major = first === '1' ? Number(second) : Number(first);
  if (!(major >= 17)) {
    throw new ServicesError(`java ${major || 'of unknown version'} found: the local Kafka broker needs Java 17+`);
  }
}

/**
 * Copies the broker's runtime classpath into .local/kafka/libs with Maven, only when the folder is missing,
 * incomplete or was fetched from another pom. The first run on a machine downloads about 45 MB to ~/.m2.
 */
export async function ensureKafkaLibs(log: LineLog): Promise<void> {
  const stamp = createHash('sha256').update(readFileSync(POM)).digest('hex');
  if (readText(LIBS_STAMP)?.trim() === stamp) return;

  await requireTool('mvn', ['-v'], 'mvn not found: fetching the local Kafka broker jars needs Maven 3.6.3+ (apt-get install maven)');
  const began = performance.now();
  // Start empty so jars of an older pom never sit next to the new ones on the classpath.
  rmSync(LIBS, { recursive: true, force: true });
  const result = await run('mvn', ['-q', '-B', '-f', POM, 'dependency:copy-dependencies'], { cwd: ROOT });
  if (result.status !== 0) {
    throw new ServicesError(`kafka: mvn could not fetch the broker jars (it needs Maven Central on first run):\n${result.output}`);
  }
  checkLibs();
  writeFileSync(LIBS_STAMP, `${stamp}\n`);
  const jars = readdirSync(LIBS).filter((file) => file.endsWith('.jar'));
  log(`kafka: fetched ${jars.length} broker jars into ${rel(LIBS)} in ${seconds(began)}`);
}

/** One SLF4J 1.x binding (log4j2) and nothing that would fight it; otherwise the broker logs nothing or fails. */
function checkLibs(): void {
  const jars = readdirSync(LIBS).filter((file) => file.endsWith('.jar'));
  const problems: string[] = [];
  if (!jars.some((jar) => jar.startsWith('kafka_2.13-'))) problems.push('no kafka_2.13 jar');
  if (!jars.some((jar) => jar.startsWith('log4j-slf4j-impl-'))) problems.push('no log4j-slf4j-impl jar');
  const clashing = jars.filter((jar) => /^(slf4j-api-2\.|logback-|log4j-slf4j2-impl-|slf4j-reload4j-|reload4j-|log4j-1\.)/.test(jar));
  if (clashing.length > 0) problems.push(`conflicting logging jars: ${clashing.join(', ')}`);
  const log4jVersions = new Set(
    jars.flatMap((jar) => /^log4j-(?:api|core|slf4j-impl)-(.+)\.jar$/.exec(jar)?.slice(1, 2) ?? []),
  );
  if (log4jVersions.size > 1) problems.push(`several log4j versions: ${[...log4jVersions].join(', ')}`);
  if (problems.length > 0) {
    throw new ServicesError(`kafka: the jars in ${rel(LIBS)} are not usable: ${problems.join('; ')}`);
  }
}
