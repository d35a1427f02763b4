// Compile-only stand-ins for the few UnityEngine types clients/unity/LiveEditReceiver.cs uses, so
// Mono's C# compiler can check the receiver (syntax, .NET APIs, types) without Unity installed.
// Signatures follow Unity's scripting API; bodies do nothing.
using System;
namespace UnityEngine {
  public class Object { }
  public class Component : Object { public Transform transform; public T GetComponent<T>() { return default(T); } }
  public class Behaviour : Component { public bool enabled; }
  public class MonoBehaviour : Behaviour { }
  public class Transform : Component {
    public Quaternion rotation; public Vector3 position;
    public Vector3 InverseTransformPoint(Vector3 p) { return p; } public Vector3 TransformPoint(Vector3 p) { return p; } }
  public class Animator : Behaviour { public bool isHuman; public Transform GetBoneTransform(HumanBodyBones b) { return null; } }
  public enum HumanBodyBones { Hips, LeftUpperLeg, RightUpperLeg, LeftLowerLeg, RightLowerLeg, LeftFoot, RightFoot, Spine, Chest, UpperChest, Neck, Head, LeftShoulder, RightShoulder, LeftUpperArm, RightUpperArm, LeftLowerArm, RightLowerArm, LeftHand, RightHand, LeftToes, RightToes, LastBone }
  public struct Vector3 { public float x, y, z; public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
    public static Vector3 operator *(Vector3 a, float s) { return a; } }
  public struct Quaternion { public float x, y, z, w; public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
    public static Quaternion operator *(Quaternion a, Quaternion b) { return a; } public static Quaternion Inverse(Quaternion q) { return q; } }
  public static class Mathf { public static float Max(float a, float b) { return a; } public static float Min(float a, float b) { return a; } }
  public static class Debug { public static void LogError(object o) { } }
  public static class JsonUtility { public static T FromJson<T>(string s) { return default(T); } public static string ToJson(object o) { return ""; } }
  public class HeaderAttribute : Attribute { public HeaderAttribute(string s) { } }
  public class TooltipAttribute : Attribute { public TooltipAttribute(string s) { } }
}
