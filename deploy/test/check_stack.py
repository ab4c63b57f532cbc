"""Checks the skillreel stack that deploy/deploy.sh deployed (deploy/test.sh: on moto).

    check_stack.py template PACKAGED.yaml          what the template itself must say
    check_stack.py deployed PACKAGED.yaml STACK    the resources, read back through the AWS APIs
    check_stack.py removed STACK MEDIA_BUCKET      after deploy.sh down

The API checks read what the emulator holds. Where moto (5.2.5) drops a property or a
resource type (each case is named in the check's comment), the template check covers it:
  - S3 bucket: PublicAccessBlockConfiguration, CorsConfiguration, LifecycleConfiguration,
    OwnershipControls are ignored by moto's CloudFormation;
  - RDS: DeletionProtection and CACertificateIdentifier are ignored;
  - target group / load balancer attributes and the ASGs' MetricsCollection are ignored;
  - IAM roles: ManagedPolicyArns is ignored;
  - subnet route table associations are not recorded; RDS VPCSecurityGroups is ignored;
  - AWS::ElastiCache::ParameterGroup and AWS::SSM::Association: moto has no API for them
    (deploy/test/moto_cfn.py only records them).
Ends with "N passed, M failed"; exits 1 when a check fails.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import pathlib
import re
import sys
import traceback
from typing import Any, Callable

import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECKS: list[tuple[str, Callable[[], None]]] = []


def check(name: str):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


def run() -> int:
    failed = 0
    for name, fn in CHECKS:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 (report every check, whatever broke it)
            failed += 1
            detail = str(err) if isinstance(err, AssertionError) else traceback.format_exc(limit=2)
            print(f"FAIL {name}: {detail}")
        else:
            print(f"ok   {name}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


def eq(actual: Any, expected: Any, what: str) -> None:
    assert actual == expected, f"{what}: expected {expected!r}, got {actual!r}"


# ====================================================================== template
def template_checks(path: str) -> None:
    t = cfn_yaml.load(path)
    res = t["Resources"]

    def props(name: str) -> dict[str, Any]:
        return res[name]["Properties"]

    def of_type(kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in res.items() if v["Type"] == kind}

    @check("template: user data of each launch template is user_data/<role>.sh, byte for byte")
    def _():
        for name, role in (("WebLaunchTemplate", "web"), ("WorkerLaunchTemplate", "worker")):
            data = props(name)["LaunchTemplateData"]["UserData"]["Fn::Base64"]
            eq(data, (ROOT / "user_data" / f"{role}.sh").read_text(), f"{name} UserData")

    # moto's AWS::EC2::SubnetRouteTableAssociation records no association.
    @check("template: each subnet uses its tier's route table")
    def _():
        found = {
            v["Properties"]["SubnetId"]["Ref"]: v["Properties"]["RouteTableId"]["Ref"]
            for v in of_type("AWS::EC2::SubnetRouteTableAssociation").values()
        }
        eq(found, {
            "PublicSubnetA": "PublicRouteTable", "PublicSubnetB": "PublicRouteTable",
            "AppSubnetA": "AppRouteTableA", "AppSubnetB": "AppRouteTableB",
            "DataSubnetA": "DataRouteTable", "DataSubnetB": "DataRouteTable",
        }, "associations")

    # moto's CloudFormation ignores the bucket's access block, CORS, lifecycle, ownership.
    @check("template: media bucket blocks all public access, owner-enforced, SSE-S3, kept on delete")
    def _():
        bucket = res["MediaBucket"]
        eq(bucket["DeletionPolicy"], "Retain", "DeletionPolicy")
        eq(bucket["Properties"]["PublicAccessBlockConfiguration"],
           {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")},
           "PublicAccessBlockConfiguration")
        eq(bucket["Properties"]["OwnershipControls"], {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
           "OwnershipControls")

    @check("template: media bucket versioning is off (no VersioningConfiguration)")
    def _():
        assert "VersioningConfiguration" not in props("MediaBucket"), "versioning must stay off"

    @check("template: CORS lets the site origin PUT/POST parts and read their ETag")
    def _():
        (rule,) = props("MediaBucket")["CorsConfiguration"]["CorsRules"]
        eq(rule["AllowedOrigins"], [{"Fn::Sub": "https://${DomainName}"}], "AllowedOrigins")
        eq(sorted(rule["AllowedMethods"]), ["POST", "PUT"], "AllowedMethods")
        assert "ETag" in rule["ExposedHeaders"], "ETag must be exposed"

    @check("template: lifecycle aborts incomplete multipart uploads after 1 day")
    def _():
        rules = props("MediaBucket")["LifecycleConfiguration"]["Rules"]
        assert any(r["Status"] == "Enabled" and r.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1}
                   and "Prefix" not in r and "Filter" not in r for r in rules), rules

    @check("template: PostgreSQL 15+, encrypted, private, force_ssl=1, deletion-protected, final snapshot")
    def _():
        db = props("Database")
        eq(res["Database"]["DeletionPolicy"], "Snapshot", "DeletionPolicy")
        eq(db["StorageEncrypted"], True, "StorageEncrypted")
        eq(db["PubliclyAccessible"], False, "PubliclyAccessible")
        eq(db["DeletionProtection"], {"Ref": "DatabaseDeletionProtection"}, "DeletionProtection")
        eq(t["Parameters"]["DatabaseDeletionProtection"]["Default"], "true", "DeletionProtection default")
        assert all(int(v) >= 15 for v in t["Parameters"]["PostgresVersion"]["AllowedValues"])
        eq(db["DBParameterGroupName"], {"Ref": "DatabaseParameters"}, "parameter group")
        eq(props("DatabaseParameters")["Parameters"].get("rds.force_ssl"), "1", "rds.force_ssl")
        # moto ignores these two (it reads VpcSecurityGroupIds, not VPCSecurityGroups).
        eq(db["CACertificateIdentifier"], "rds-ca-rsa2048-g1", "CA")
        eq(db["VPCSecurityGroups"], [{"Ref": "DatabaseSecurityGroup"}], "security group")

    # moto has no AWS::ElastiCache::ParameterGroup at all.
    @check("template: Redis TLS in transit, encrypted at rest, AUTH from the generated secret, noeviction")
    def _():
        redis = props("Redis")
        eq(redis["TransitEncryptionEnabled"], True, "TransitEncryptionEnabled")
        eq(redis["AtRestEncryptionEnabled"], True, "AtRestEncryptionEnabled")
        eq(redis["AuthToken"], {"Fn::Sub": "{{resolve:secretsmanager:${RedisAuthSecret}}}"}, "AuthToken")
        assert "GenerateSecretString" in props("RedisAuthSecret")
        eq(props("RedisParameters")["Properties"], {"maxmemory-policy": "noeviction"}, "parameters")
        eq(redis["CacheParameterGroupName"], {"Ref": "RedisParameters"}, "parameter group")

    # moto ignores load balancer and target group attributes.
    @check("template: deregistration delay 60 s, invalid headers dropped, X-Forwarded-For appended")
    def _():
        eq(props("WebTargetGroup")["TargetGroupAttributes"],
           [{"Key": "deregistration_delay.timeout_seconds", "Value": "60"}], "target group attributes")
        attributes = {a["Key"]: a["Value"] for a in props("LoadBalancer")["LoadBalancerAttributes"]}
        eq(attributes["routing.http.drop_invalid_header_fields.enabled"], "true", "drop invalid headers")
        eq(attributes["routing.http.xff_header_processing.mode"], "append", "X-Forwarded-For")

    # moto ignores MetricsCollection; the backlog divisor needs GroupInServiceInstances.
    @check("template: worker group publishes GroupInServiceInstances")
    def _():
        metrics = props("WorkerGroup")["MetricsCollection"][0]["Metrics"]
        assert "GroupInServiceInstances" in metrics, metrics

    # moto ignores ManagedPolicyArns.
    @check("template: only the worker role has a managed policy (SSM agent), the web role none")
    def _():
        eq(props("WorkerRole")["ManagedPolicyArns"],
           [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}], "worker")
        assert "ManagedPolicyArns" not in props("WebRole")

    # moto has no AWS::SSM::Association.
    @check("template: the CloudWatch agent is installed on every worker and publishes the queue metrics")
    def _():
        association = props("WorkerMetricsAgent")
        eq(association["Name"], {"Ref": "WorkerMetricsAgentDocument"}, "document")
        eq(association["Targets"], [{"Key": "tag:skillreel:role", "Values": ["worker"]}], "targets")
        tags = props("WorkerLaunchTemplate")["LaunchTemplateData"]["TagSpecifications"][0]["Tags"]
        assert {"Key": "skillreel:role", "Value": "worker"} in tags, tags
        steps = props("WorkerMetricsAgentDocument")["Content"]["mainSteps"]
        assert "AmazonCloudWatchAgent" in steps[0]["inputs"]["documentParameters"]
        script = "\n".join(steps[1]["inputs"]["runCommand"])
        for needle in ("^skillreel_queue_depth$", "^skillreel_jobs_total$", '"127.0.0.1:9100"',
                       "/skillreel/prometheus", "skillreel-worker"):
            assert needle in script, f"{needle} missing from the agent configuration"
        json.loads(script.split("<<'EOF'\n")[2].split("\nEOF")[0])  # the agent's JSON parses

    @check("template: docs/iam/*.json are the roles' policies (deploy/iam.py --check)")
    def _():
        sys.path.insert(0, str(ROOT / "deploy"))
        import iam  # noqa: PLC0415

        for file_name, text in iam.policies(pathlib.Path(path)).items():
            eq(text, (ROOT / "docs" / "iam" / file_name).read_text(), f"docs/iam/{file_name}")

    @check("template: every /skillreel/ parameter is a variable the services document")
    def _():
        known = documented_variables()
        for name, resource in of_type("AWS::SSM::Parameter").items():
            variable = resource["Properties"]["Name"].rsplit("/", 1)[1].upper()
            assert variable in known, f"{name}: {variable} is not a configuration variable of crates/shared"


def documented_variables() -> set[str]:
    """The variables the config modules list in their docs, plus what user_data reads."""
    text = "".join(p.read_text() for p in (ROOT / "crates/shared/src/config").rglob("*.rs"))
    found = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))
    # artifact_uri is read by user_data, not by the services.
    return found | {"ARTIFACT_URI"}


# ====================================================================== deployed
def deployed_checks(path: str, stack: str) -> None:
    import boto3  # noqa: PLC0415

    t = cfn_yaml.load(path)
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

    def aws(service: str):
        return boto3.client(service, region_name=region)

    cfn = aws("cloudformation")
    description = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in description["Parameters"]}
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
    }
    ec2, elb, asg, s3 = aws("ec2"), aws("elbv2"), aws("autoscaling"), aws("s3")
    account = aws("sts").get_caller_identity()["Account"]

    @check("deployed: stack complete, with its outputs")
    def _():
        assert description["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), description["StackStatus"]
        missing = set(t["Outputs"]) - set(outputs)
        assert not missing, f"outputs missing: {missing}"

    def subnets(*names: str) -> list[dict[str, Any]]:
        return ec2.describe_subnets(SubnetIds=[physical[n] for n in names])["Subnets"]

    def default_routes(table: str) -> list[dict[str, Any]]:
        (found,) = ec2.describe_route_tables(RouteTableIds=[physical[table]])["RouteTables"]
        return [r for r in found["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]

    @check("deployed: public route table goes out by the internet gateway, app ones by a NAT each, data nowhere")
    def _():
        eq([r.get("GatewayId") for r in default_routes("PublicRouteTable")], [physical["InternetGateway"]], "public")
        nats = set()
        for table in ("AppRouteTableA", "AppRouteTableB"):
            (route,) = default_routes(table)
            assert route.get("NatGatewayId"), f"{table}: {route}"
            nats.add(route["NatGatewayId"])
        eq(len(nats), 2, "NAT gateways (one per AZ by default)")
        eq(default_routes("DataRouteTable"), [], "data route table")

    @check("deployed: S3 gateway endpoint on both app route tables")
    def _():
        (endpoint,) = ec2.describe_vpc_endpoints(VpcEndpointIds=[physical["S3GatewayEndpoint"]])["VpcEndpoints"]
        eq(endpoint["ServiceName"], f"com.amazonaws.{region}.s3", "service")
        eq(sorted(endpoint["RouteTableIds"]), sorted([physical["AppRouteTableA"], physical["AppRouteTableB"]]),
           "route tables")

    def ingress(group: str) -> set[tuple]:
        (sg,) = ec2.describe_security_groups(GroupIds=[physical[group]])["SecurityGroups"]
        rules = set()
        for p in sg["IpPermissions"]:
            for r in p.get("IpRanges", []):
                rules.add((p["FromPort"], p["ToPort"], r["CidrIp"]))
            for r in p.get("UserIdGroupPairs", []):
                rules.add((p["FromPort"], p["ToPort"], r["GroupId"]))
        return rules

    @check("deployed: security groups open only 443/80 to the internet, 8000 from the ALB, 5432/6379 from the app")
    def _():
        eq(ingress("AlbSecurityGroup"), {(443, 443, "0.0.0.0/0"), (80, 80, "0.0.0.0/0")}, "ALB")
        eq(ingress("WebSecurityGroup"), {(8000, 8000, physical["AlbSecurityGroup"])}, "web")
        eq(ingress("WorkerSecurityGroup"), set(), "worker")
        app = {physical["WebSecurityGroup"], physical["WorkerSecurityGroup"]}
        eq(ingress("DatabaseSecurityGroup"), {(5432, 5432, g) for g in app}, "database")
        eq(ingress("RedisSecurityGroup"), {(6379, 6379, g) for g in app}, "redis")

    @check("deployed: ALB is internet-facing in the public subnets, HTTPS with the certificate, HTTP redirects")
    def _():
        (lb,) = elb.describe_load_balancers(LoadBalancerArns=[physical["LoadBalancer"]])["LoadBalancers"]
        eq(lb["Scheme"], "internet-facing", "scheme")
        eq(sorted(z["SubnetId"] for z in lb["AvailabilityZones"]),
           sorted([physical["PublicSubnetA"], physical["PublicSubnetB"]]), "subnets")
        listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
        eq(sorted(listeners), [80, 443], "listener ports")
        https = listeners[443]
        eq(https["Protocol"], "HTTPS", "443 protocol")
        eq([c["CertificateArn"] for c in https["Certificates"]], [parameters["CertificateArn"]], "certificate")
        assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13"), https["SslPolicy"]
        eq(https["DefaultActions"], [{"Type": "forward", "TargetGroupArn": physical["WebTargetGroup"]}], "443 action")
        eq(listeners[80]["DefaultActions"][0]["Type"], "redirect", "80 action")
        eq(listeners[80]["DefaultActions"][0]["RedirectConfig"],
           {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}, "redirect")

    @check("deployed: target group checks /health/ready on port 8000, 200 only")
    def _():
        (tg,) = elb.describe_target_groups(TargetGroupArns=[physical["WebTargetGroup"]])["TargetGroups"]
        eq((tg["Protocol"], tg["Port"], tg["HealthCheckPath"], tg["Matcher"]["HttpCode"]),
           ("HTTP", 8000, "/health/ready", "200"), "health check")

    def group(logical: str) -> dict[str, Any]:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[physical[logical]])["AutoScalingGroups"][0]

    def launch_data(g: dict[str, Any]) -> dict[str, Any]:
        ref = g["LaunchTemplate"]
        return ec2.describe_launch_template_versions(
            LaunchTemplateId=ref["LaunchTemplateId"], Versions=[ref["Version"]]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]

    @check("deployed: web and worker groups launch user_data/web.sh and worker.sh, IMDSv2 only, in the app subnets")
    def _():
        app = sorted([physical["AppSubnetA"], physical["AppSubnetB"]])
        for logical, role, sg in (("WebGroup", "web", "WebSecurityGroup"), ("WorkerGroup", "worker", "WorkerSecurityGroup")):
            g = group(logical)
            data = launch_data(g)
            eq(base64.b64decode(data["UserData"]).decode(), (ROOT / "user_data" / f"{role}.sh").read_text(),
               f"{logical} user data")
            eq(data["MetadataOptions"]["HttpTokens"], "required", f"{logical} IMDSv2")
            eq(data["SecurityGroupIds"], [physical[sg]], f"{logical} security group")
            profile = physical["WebInstanceProfile" if role == "web" else "WorkerInstanceProfile"]
            assert data["IamInstanceProfile"]["Arn"].endswith(f"/{profile}"), data["IamInstanceProfile"]
            eq(sorted(g["VPCZoneIdentifier"].split(",")), app, f"{logical} subnets")

    @check("deployed: web group behind the target group with ELB health checks; workers on EC2 checks")
    def _():
        web, worker = group("WebGroup"), group("WorkerGroup")
        eq((web["TargetGroupARNs"], web["HealthCheckType"]), ([physical["WebTargetGroup"]], "ELB"), "web")
        eq((web["MinSize"], web["MaxSize"]), (2, 10), "web size")
        eq((worker["TargetGroupARNs"], worker["HealthCheckType"]), ([], "EC2"), "worker")
        assert worker["MinSize"] >= 1, "workers must keep one instance to publish the queue depth"

    def policy(group_logical: str) -> dict[str, Any]:
        (p,) = asg.describe_policies(AutoScalingGroupName=physical[group_logical])["ScalingPolicies"]
        eq(p["PolicyType"], "TargetTrackingScaling", "policy type")
        return p["TargetTrackingConfiguration"]

    @check("deployed: web scales on average CPU (target tracking 50 %)")
    def _():
        config = policy("WebGroup")
        eq(config["PredefinedMetricSpecification"]["PredefinedMetricType"], "ASGAverageCPUUtilization", "metric")
        eq(config["TargetValue"], 50.0, "target")

    @check("deployed: workers scale on skillreel_queue_depth per in-service worker")
    def _():
        config = policy("WorkerGroup")
        metrics = {m["Id"]: m for m in config["CustomizedMetricSpecification"]["Metrics"]}
        depth = metrics["depth"]["MetricStat"]["Metric"]
        eq((depth["Namespace"], depth["MetricName"], depth["Dimensions"]),
           ("skillreel", "skillreel_queue_depth", [{"Name": "job", "Value": "skillreel-worker"}]), "depth")
        workers = metrics["workers"]["MetricStat"]["Metric"]
        eq((workers["MetricName"], workers["Dimensions"]),
           ("GroupInServiceInstances", [{"Name": "AutoScalingGroupName", "Value": physical["WorkerGroup"]}]), "workers")
        eq(metrics["backlog"]["Expression"], "IF(workers > 0, depth / workers, depth)", "expression")
        eq([m["Id"] for m in metrics.values() if m.get("ReturnData")], ["backlog"], "returned metric")
        eq(config["TargetValue"], 10.0, "target")

    @check("deployed: PostgreSQL encrypted, Multi-AZ, private, in the data subnets, force_ssl=1")
    def _():
        (db,) = aws("rds").describe_db_instances(DBInstanceIdentifier=physical["Database"])["DBInstances"]
        eq((db["Engine"], db["StorageEncrypted"], db["MultiAZ"], db["PubliclyAccessible"]),
           ("postgres", True, True, False), "engine, encryption, Multi-AZ, public")
        assert int(db["EngineVersion"].split(".")[0]) >= 15, db["EngineVersion"]
        eq(sorted(s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]),
           sorted([physical["DataSubnetA"], physical["DataSubnetB"]]), "subnets")
        (group_name,) = [g["DBParameterGroupName"] for g in db["DBParameterGroups"]]
        params = aws("rds").describe_db_parameters(DBParameterGroupName=group_name)["Parameters"]
        eq({p["ParameterName"]: p["ParameterValue"] for p in params}.get("rds.force_ssl"), "1", "rds.force_ssl")

    @check("deployed: Redis replication group with TLS, at-rest encryption and AUTH, in the data subnets")
    def _():
        cache = aws("elasticache")
        (rg,) = cache.describe_replication_groups(ReplicationGroupId=physical["Redis"])["ReplicationGroups"]
        eq((rg["TransitEncryptionEnabled"], rg["AtRestEncryptionEnabled"], rg["AuthTokenEnabled"]),
           (True, True, True), "transit, at rest, auth")
        eq((rg["AutomaticFailover"], rg["MultiAZ"]), ("enabled", "enabled"), "failover")
        (subnet_group,) = cache.describe_cache_subnet_groups(CacheSubnetGroupName=physical["RedisSubnetGroup"])[
            "CacheSubnetGroups"]
        eq(sorted(s["SubnetIdentifier"] for s in subnet_group["Subnets"]),
           sorted([physical["DataSubnetA"], physical["DataSubnetB"]]), "subnets")

    @check("deployed: media bucket unversioned, SSE-S3, TLS-only policy")
    def _():
        bucket = outputs["MediaBucket"]
        assert "Status" not in s3.get_bucket_versioning(Bucket=bucket), "versioning must be off"
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        eq(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256", "encryption")
        (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        eq((statement["Effect"], statement["Condition"]), ("Deny", {"Bool": {"aws:SecureTransport": "false"}}), "policy")

    secrets = aws("secretsmanager")

    def secret(name: str) -> str:
        return secrets.get_secret_value(SecretId=name)["SecretString"]

    @check("deployed: secrets under the stack's key; the database secret has the shape the services read")
    def _():
        key_id = outputs["ConfigKeyArn"].rsplit("/", 1)[1]
        for name in ("skillreel/database", "skillreel/jwt", "skillreel/redis-auth"):
            assert secrets.describe_secret(SecretId=name)["KmsKeyId"] in (key_id, outputs["ConfigKeyArn"]), name
        db = json.loads(secret("skillreel/database"))
        eq((db["username"], db["dbname"], db["host"], int(db["port"])),
           ("skillreel", "skillreel", outputs["DatabaseEndpoint"], 5432), "database secret")
        assert len(db["password"]) >= 32, "database password too short"
        assert len(secret("skillreel/jwt")) >= 32, "JWT key under 32 bytes"

    ssm = aws("ssm")

    @check("deployed: /skillreel/redis_url is a SecureString rediss://:<AUTH token>@<primary>:6379")
    def _():
        (param,) = ssm.get_parameters(Names=["/skillreel/redis_url"], WithDecryption=True)["Parameters"]
        eq(param["Type"], "SecureString", "type")
        eq(param["Value"], f"rediss://:{secret('skillreel/redis-auth')}@{outputs['RedisEndpoint']}:6379", "value")

    @check("deployed: the SSM parameters the services read")
    def _():
        found = {
            p["Name"]: p["Value"]
            for p in ssm.get_parameters_by_path(Path="/skillreel", Recursive=True)["Parameters"]
            if p["Name"] != "/skillreel/redis_url"
        }
        cidrs = [s["CidrBlock"] for s in subnets("PublicSubnetA", "PublicSubnetB")]
        eq(found, {
            "/skillreel/s3_bucket": outputs["MediaBucket"],
            "/skillreel/s3_expected_bucket_owner": account,
            "/skillreel/artifact_uri": parameters["ArtifactUri"],
            "/skillreel/database_sslmode": "verify-full",
            "/skillreel/database_max_connections": "10",
            "/skillreel/worker_concurrency": "2",
            "/skillreel/trusted_proxies": ",".join(sorted(cidrs)),
            "/skillreel/public_base_url": f"https://{parameters['DomainName']}",
            "/skillreel/admin_emails": parameters["AdminEmails"],
        }, "parameters")

    @check("deployed: role policies are docs/iam/*.json with this stack's names filled in")
    def _():
        iam = aws("iam")
        fill = {
            "MEDIA_BUCKET": outputs["MediaBucket"],
            "ARTIFACT_BUCKET": parameters["ArtifactBucket"],
            "REGION": region,
            "ACCOUNT_ID": account,
            "KMS_KEY_ID": outputs["ConfigKeyArn"].rsplit("/", 1)[1],
        }
        for role, file_name in (("WebRole", "web-policy.json"), ("WorkerRole", "worker-policy.json")):
            text = (ROOT / "docs" / "iam" / file_name).read_text()
            for placeholder, value in fill.items():
                text = text.replace(placeholder, value)
            document = iam.get_role_policy(RoleName=physical[role], PolicyName="skillreel")["PolicyDocument"]
            if isinstance(document, str):
                # moto keeps an inline policy made by CloudFormation as a Python repr.
                document = ast.literal_eval(document)
            eq(document, json.loads(text), f"{role} policy")
            trust = iam.get_role(RoleName=physical[role])["Role"]["AssumeRolePolicyDocument"]
            eq(trust["Statement"][0]["Principal"], {"Service": "ec2.amazonaws.com"}, f"{role} trust")
            profile = "WebInstanceProfile" if role == "WebRole" else "WorkerInstanceProfile"
            roles = iam.get_instance_profile(InstanceProfileName=physical[profile])["InstanceProfile"]["Roles"]
            eq([r["RoleName"] for r in roles], [physical[role]], f"{profile} roles")

    cw = aws("cloudwatch")

    def alarm(logical: str) -> dict[str, Any]:
        (found,) = cw.describe_alarms(AlarmNames=[physical[logical]])["MetricAlarms"]
        eq(found["AlarmActions"], [physical["AlarmTopic"]], f"{logical} actions")
        return found

    def queries(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {m["Id"]: m for m in found["Metrics"]}

    @check("deployed: alarm on the ALB's 5xx share (ELB and target 5xx over requests)")
    def _():
        found = queries(alarm("Alb5xxRateAlarm"))
        lb_full_name = physical["LoadBalancer"].split(":", 5)[5].split("/", 1)[1]
        for query_id, metric in (("elb5xx", "HTTPCode_ELB_5XX_Count"), ("target5xx", "HTTPCode_Target_5XX_Count"),
                                 ("requests", "RequestCount")):
            m = found[query_id]["MetricStat"]["Metric"]
            eq((m["Namespace"], m["MetricName"], m["Dimensions"]),
               ("AWS/ApplicationELB", metric, [{"Name": "LoadBalancer", "Value": lb_full_name}]), query_id)
        assert "elb5xx" in found["rate"]["Expression"] and "target5xx" in found["rate"]["Expression"]

    @check("deployed: alarms on queue depth, a stalled queue, a missing queue metric, failed jobs")
    def _():
        depth = alarm("QueueDepthAlarm")
        eq((depth["Namespace"], depth["MetricName"]), ("skillreel", "skillreel_queue_depth"), "depth")
        stalled = queries(alarm("QueueStalledAlarm"))
        eq(stalled["finished"]["MetricStat"]["Metric"]["Dimensions"],
           [{"Name": "job", "Value": "skillreel-worker"}, {"Name": "outcome", "Value": "processed"}], "stalled")
        missing = alarm("QueueMetricMissingAlarm")
        eq((missing["Statistic"], missing["TreatMissingData"]), ("SampleCount", "breaching"), "missing")
        failed = alarm("FailedJobsAlarm")
        eq((failed["MetricName"], failed["Dimensions"]),
           ("skillreel_jobs_total", [{"Name": "job", "Value": "skillreel-worker"}, {"Name": "outcome", "Value": "failed"}]),
           "failed jobs")

    @check("deployed: alarms on database CPU and storage, and on no healthy web instance")
    def _():
        cpu = alarm("DatabaseCpuAlarm")
        eq((cpu["Namespace"], cpu["MetricName"], cpu["Dimensions"]),
           ("AWS/RDS", "CPUUtilization", [{"Name": "DBInstanceIdentifier", "Value": physical["Database"]}]), "cpu")
        eq(alarm("DatabaseStorageAlarm")["MetricName"], "FreeStorageSpace", "storage")
        eq(alarm("NoHealthyWebAlarm")["MetricName"], "HealthyHostCount", "healthy hosts")

    @check("deployed: alarm topic mails the alarm address")
    def _():
        subs = aws("sns").list_subscriptions_by_topic(TopicArn=physical["AlarmTopic"])["Subscriptions"]
        eq([(s["Protocol"], s["Endpoint"]) for s in subs], [("email", parameters["AlarmEmail"])], "subscriptions")

    @check("deployed: metrics log group, agent document, config key alias, DNS alias record")
    def _():
        groups = aws("logs").describe_log_groups(logGroupNamePrefix="/skillreel/prometheus")["logGroups"]
        eq([(g["logGroupName"], g.get("retentionInDays")) for g in groups], [("/skillreel/prometheus", 14)], "log group")
        content = ssm.get_document(Name=physical["WorkerMetricsAgentDocument"])["Content"]
        assert "skillreel_queue_depth" in content, "agent document"
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in aws("kms").list_aliases()["Aliases"]}
        eq(aliases.get("alias/skillreel"), outputs["ConfigKeyArn"].rsplit("/", 1)[1], "alias/skillreel")
        records = aws("route53").list_resource_record_sets(HostedZoneId=parameters["HostedZoneId"])["ResourceRecordSets"]
        (record,) = [r for r in records if r["Type"] == "A" and r["Name"].rstrip(".") == parameters["DomainName"]]
        eq(record["AliasTarget"]["DNSName"].rstrip("."), outputs["LoadBalancerDns"], "alias target")


# ====================================================================== removed
def removed_checks(stack: str, media_bucket: str) -> None:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")

    @check("removed: the stack is gone")
    def _():
        try:
            stacks = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"]
        except ClientError:
            return
        assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks), stacks

    @check("removed: the media bucket is kept (players' videos)")
    def _():
        boto3.client("s3", region_name=region).head_bucket(Bucket=media_bucket)

    @check("removed: secrets and /skillreel/redis_url are gone, so the next up can reuse the names")
    def _():
        secrets = boto3.client("secretsmanager", region_name=region)
        for name in ("skillreel/database", "skillreel/jwt", "skillreel/redis-auth"):
            try:  # describe_secret also finds a secret scheduled for deletion
                secrets.describe_secret(SecretId=name)
            except secrets.exceptions.ResourceNotFoundException:
                continue
            raise AssertionError(f"{name} still exists (or waits for deletion)")
        params = boto3.client("ssm", region_name=region).get_parameters(Names=["/skillreel/redis_url"])
        eq(params["Parameters"], [], "redis_url")


def main() -> int:
    mode, *args = sys.argv[1:]
    if mode == "template":
        template_checks(args[0])
    elif mode == "deployed":
        template_checks(args[0])
        deployed_checks(args[0], args[1])
    elif mode == "removed":
        removed_checks(args[0], args[1])
    else:
        raise SystemExit(__doc__)
    return run()


if __name__ == "__main__":
    sys.exit(main())
