#!/usr/bin/env python3
"""boto3 checks for the verify step, run inside the instance.

usage: s3_client.py ENDPOINT ACTION [ARGS...]   (keys in S3_ACCESS_KEY / S3_SECRET_KEY)
Prints one line per result; exits 3 when the server refuses the request (error code printed).
"""
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore.exceptions

endpoint, action, args = sys.argv[1], sys.argv[2], sys.argv[3:]

if action == "anonymous-get":  # plain HTTP GET without credentials
    bucket, key = args
    try:
        with urllib.request.urlopen(f"{endpoint}/{bucket}/{key}", timeout=10) as resp:
            print(resp.read().decode())
    except urllib.error.HTTPError as exc:
        print(exc.code)
        sys.exit(3)
    sys.exit(0)

s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=os.environ["S3_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["S3_SECRET_KEY"])
try:
    if action == "roundtrip":  # what MLflow does with its artifact bucket
        bucket = args[0]
        s3.put_object(Bucket=bucket, Key="verify/a.txt", Body=b"artifact-a")
        s3.upload_file("/etc/os-release", bucket, "verify/os-release")
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="verify/")["Contents"])
        body = s3.get_object(Bucket=bucket, Key="verify/a.txt")["Body"].read().decode()
        s3.delete_object(Bucket=bucket, Key="verify/os-release")
        left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="verify/").get("Contents", []))
        print(",".join(keys), body, ",".join(left))
    elif action == "put":
        bucket, key, body = args
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        print("ok")
    elif action == "get":
        bucket, key = args
        print(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
    elif action == "list":
        print(",".join(o["Key"] for o in s3.list_objects_v2(Bucket=args[0]).get("Contents", [])))
    elif action == "create-bucket":
        s3.create_bucket(Bucket=args[0])
        print("ok")
    else:
        sys.exit(f"unknown action {action}")
except botocore.exceptions.ClientError as exc:
    print(exc.response["Error"]["Code"])
    sys.exit(3)
